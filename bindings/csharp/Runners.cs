// processkit for C#, part 3 (hand-written): the runner seam (IRunner), its
// real implementation and the test doubles of docs/replay.md (ScriptedRunner,
// RecordReplayRunner with the version 1 cassette), and the small JSON reader
// and writer they need (Mono has no System.Text.Json).
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("Tests")]

namespace ProcessKit
{
    /// <summary>The seam between code that runs commands and what runs them:
    /// run a command to the end and give back its result. Take an IRunner,
    /// pass ProcessRunner.Default in production and a double in tests.</summary>
    public interface IRunner
    {
        RunResult Run(Command command, CancellationToken cancellationToken = default(CancellationToken));
        Task<RunResult> RunAsync(Command command, CancellationToken cancellationToken = default(CancellationToken));
    }

    /// <summary>The real runner: Command.Run / Command.RunAsync (a private group per run).</summary>
    public sealed class ProcessRunner : IRunner
    {
        public static readonly ProcessRunner Default = new ProcessRunner();
        public RunResult Run(Command command, CancellationToken cancellationToken = default(CancellationToken)) { return command.Run(cancellationToken); }
        public Task<RunResult> RunAsync(Command command, CancellationToken cancellationToken = default(CancellationToken)) { return command.RunAsync(cancellationToken); }
    }

    /// <summary>No expectation (or cassette entry) answers this argv.</summary>
    public class UnexpectedCommandException : InvalidOperationException
    {
        public IReadOnlyList<string> Argv { get; private set; }
        public UnexpectedCommandException(string message, IReadOnlyList<string> argv) : base(message) { Argv = argv; }
        internal static string Show(IReadOnlyList<string> argv)
        {
            return "[" + string.Join(", ", argv.Select(a => "\"" + a + "\"")) + "]";
        }
    }

    /// <summary>What a double was asked to run.</summary>
    public sealed class Invocation
    {
        public IReadOnlyList<string> Argv { get; internal set; }
        public string Cwd { get; internal set; }
        /// <summary>Environment changes (a null value is an unset).</summary>
        public IReadOnlyDictionary<string, string> Env { get; internal set; }
        /// <summary>stdin bytes, when stdin was bytes; else null.</summary>
        public byte[] Stdin { get; internal set; }

        internal static Invocation Of(Command c)
        {
            return new Invocation { Argv = c.Argv, Cwd = c.Cwd, Env = c.EnvChanges, Stdin = c.StdinBytes };
        }
    }

    /// <summary>A canned answer of a ScriptedRunner.</summary>
    public sealed class ScriptedReply
    {
        internal Outcome Outcome;
        internal int ExitCode;
        internal Signal Signal;
        internal byte[] Stdout = new byte[0], Stderr = new byte[0];

        public static ScriptedReply Ok(string stdout = "") { return new ScriptedReply { Outcome = Outcome.Exited, Stdout = Encoding.UTF8.GetBytes(stdout ?? "") }; }
        public static ScriptedReply Ok(byte[] stdout) { return new ScriptedReply { Outcome = Outcome.Exited, Stdout = stdout ?? new byte[0] }; }
        public static ScriptedReply Fail(int exitCode, string stderr = "", string stdout = "")
        {
            return new ScriptedReply { Outcome = Outcome.Exited, ExitCode = exitCode, Stderr = Encoding.UTF8.GetBytes(stderr ?? ""), Stdout = Encoding.UTF8.GetBytes(stdout ?? "") };
        }
        public static ScriptedReply Timeout() { return new ScriptedReply { Outcome = Outcome.TimedOut, ExitCode = -1 }; }
        public static ScriptedReply Signalled(Signal signal) { return new ScriptedReply { Outcome = Outcome.Signalled, ExitCode = -1, Signal = signal }; }
        public static ScriptedReply Cancelled() { return new ScriptedReply { Outcome = Outcome.Cancelled, ExitCode = -1 }; }

        internal RunResult ToResult(Command c)
        {
            return RunResult.Synthetic(c.Argv, Outcome, ExitCode, Signal, Stdout, Stderr, TimeSpan.Zero, c.SuccessCodes);
        }
    }

    /// <summary>Answers from expectations (an argv prefix and a reply; the
    /// first match wins, and may be used again); an argv nothing matches is an
    /// UnexpectedCommandException naming it, unless a Fallback runner is set.
    /// Invocations records every call. Spawns nothing.</summary>
    public sealed class ScriptedRunner : IRunner
    {
        readonly List<KeyValuePair<string[], ScriptedReply>> expectations = new List<KeyValuePair<string[], ScriptedReply>>();
        readonly List<Invocation> invocations = new List<Invocation>();

        /// <summary>Answer any argv starting with <paramref name="argvPrefix"/> with <paramref name="reply"/>.</summary>
        public ScriptedRunner Expect(ScriptedReply reply, params string[] argvPrefix)
        {
            lock (expectations) expectations.Add(new KeyValuePair<string[], ScriptedReply>(argvPrefix, reply));
            return this;
        }

        /// <summary>Answers what no expectation matches (null: an error).</summary>
        public IRunner Fallback { get; set; }

        public IReadOnlyList<Invocation> Invocations { get { lock (expectations) return invocations.ToArray(); } }

        public RunResult Run(Command command, CancellationToken cancellationToken = default(CancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var argv = command.Argv;
            ScriptedReply reply = null;
            lock (expectations)
            {
                invocations.Add(Invocation.Of(command));
                foreach (var e in expectations)
                    if (e.Key.Length <= argv.Count && e.Key.Select((a, i) => a == argv[i]).All(x => x))
                    {
                        reply = e.Value;
                        break;
                    }
            }
            if (reply != null)
                return reply.ToResult(command);
            if (Fallback != null)
                return Fallback.Run(command, cancellationToken);
            throw new UnexpectedCommandException("ScriptedRunner: no expectation matches argv " + UnexpectedCommandException.Show(argv), argv);
        }

        public Task<RunResult> RunAsync(Command command, CancellationToken cancellationToken = default(CancellationToken))
        {
            try { return Task.FromResult(Run(command, cancellationToken)); }
            catch (Exception e)
            {
                var t = new TaskCompletionSource<RunResult>();
                t.SetException(e);
                return t.Task;
            }
        }
    }

    /// <summary>Record: runs for real through an inner runner and appends
    /// each run to a cassette, written at Dispose. Replay: answers from the
    /// cassette without spawning (docs/replay.md, format version 1).</summary>
    public sealed class RecordReplayRunner : IRunner, IDisposable
    {
        sealed class Entry
        {
            public List<string> Argv;
            public string Cwd;
            public byte[] Stdin;
            public RunResult Result;
            public bool Used;
        }

        readonly string path;
        readonly IRunner inner;
        readonly bool recording;
        readonly List<Entry> entries = new List<Entry>();
        bool written;

        RecordReplayRunner(string path, IRunner inner, bool recording)
        {
            this.path = path;
            this.inner = inner;
            this.recording = recording;
        }

        /// <summary>Record real runs (through <paramref name="inner"/>, default the real runner) to <paramref name="cassettePath"/>.</summary>
        public static RecordReplayRunner Record(string cassettePath, IRunner inner = null)
        {
            return new RecordReplayRunner(cassettePath, inner ?? ProcessRunner.Default, true);
        }

        /// <summary>Answer from the cassette at <paramref name="cassettePath"/>; nothing is spawned.</summary>
        public static RecordReplayRunner Replay(string cassettePath)
        {
            var r = new RecordReplayRunner(cassettePath, null, false);
            r.Load(File.ReadAllText(cassettePath, Encoding.UTF8));
            return r;
        }

        public bool IsRecording { get { return recording; } }

        public RunResult Run(Command command, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (recording)
            {
                var res = inner.Run(command, cancellationToken);
                lock (entries)
                    entries.Add(new Entry { Argv = command.Argv.ToList(), Cwd = command.Cwd, Stdin = command.StdinBytes, Result = res });
                return res;
            }
            cancellationToken.ThrowIfCancellationRequested();
            var argv = command.Argv;
            lock (entries)
            {
                bool known = false;
                foreach (var e in entries)
                {
                    if (!e.Argv.SequenceEqual(argv) || (e.Cwd != null && e.Cwd != command.Cwd))
                        continue;
                    known = true;
                    if (e.Used)
                        continue;
                    e.Used = true;
                    var r = e.Result;
                    return RunResult.Synthetic(argv, r.Outcome, r.ExitCode, r.Signal, r.Stdout, r.Stderr, r.Duration, command.SuccessCodes);
                }
                throw new UnexpectedCommandException("RecordReplayRunner: the cassette " + path +
                    (known ? " holds no more answers for argv " : " holds no run of argv ") + UnexpectedCommandException.Show(argv), argv);
            }
        }

        public Task<RunResult> RunAsync(Command command, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (recording)
                return inner.RunAsync(command, cancellationToken).ContinueWith(t =>
                {
                    var res = t.Result;  // rethrows the inner failure (as AggregateException's inner)
                    lock (entries)
                        entries.Add(new Entry { Argv = command.Argv.ToList(), Cwd = command.Cwd, Stdin = command.StdinBytes, Result = res });
                    return res;
                }, TaskScheduler.Default);
            try { return Task.FromResult(Run(command, cancellationToken)); }
            catch (Exception e)
            {
                var t = new TaskCompletionSource<RunResult>();
                t.SetException(e);
                return t.Task;
            }
        }

        void Load(string text)
        {
            var doc = Json.Parse(text) as Dictionary<string, object>;
            if (doc == null || !(doc.ContainsKey("format") && "processkit-cassette".Equals(doc["format"])))
                throw new FormatException(path + ": not a processkit cassette (\"format\" must be \"processkit-cassette\")");
            if (!doc.ContainsKey("version") || !(doc["version"] is double) || (double)doc["version"] != 1)
                throw new FormatException(path + ": cassette version " + (doc.ContainsKey("version") ? Json.Write(doc["version"]) : "missing") + " is not 1");
            foreach (Dictionary<string, object> it in (List<object>)doc["interactions"])
            {
                var res = (Dictionary<string, object>)it["result"];
                var argv = ((List<object>)it["argv"]).Cast<string>().ToList();
                var outcome = EnumNames.ParseSnake<Outcome>((string)res["outcome"]);
                entries.Add(new Entry
                {
                    Argv = argv,
                    Cwd = it.ContainsKey("cwd") ? it["cwd"] as string : null,
                    Result = RunResult.Synthetic(argv, outcome, (int)Num(res, "exit_code"), (Signal)(int)Num(res, "signal"),
                                                 Bytes(res, "stdout"), Bytes(res, "stderr"), TimeSpan.FromMilliseconds(Num(res, "duration_ms"))),
                });
            }
        }

        static double Num(Dictionary<string, object> d, string k) { object v; return d.TryGetValue(k, out v) && v is double ? (double)v : 0; }

        static byte[] Bytes(Dictionary<string, object> d, string k)
        {
            object v;
            if (d.TryGetValue(k + "_base64", out v) && v is string)
                return Convert.FromBase64String((string)v);
            if (d.TryGetValue(k, out v) && v is string)
                return Encoding.UTF8.GetBytes((string)v);
            return new byte[0];
        }

        static readonly UTF8Encoding strictUtf8 = new UTF8Encoding(false, true);

        static void PutBytes(Dictionary<string, object> d, string k, byte[] b)
        {
            try { d[k] = strictUtf8.GetString(b); }
            catch (ArgumentException) { d[k + "_base64"] = Convert.ToBase64String(b); }
        }

        /// <summary>The cassette text of what was recorded so far.</summary>
        public string ToJson()
        {
            var list = new List<object>();
            lock (entries)
                foreach (var e in entries)
                {
                    var res = new Dictionary<string, object>
                    {
                        { "outcome", e.Result.Outcome.SnakeName() },
                        { "exit_code", (double)e.Result.ExitCode },
                        { "signal", (double)(int)e.Result.Signal },
                    };
                    PutBytes(res, "stdout", e.Result.Stdout);
                    PutBytes(res, "stderr", e.Result.Stderr);
                    res["duration_ms"] = Math.Round(e.Result.Duration.TotalMilliseconds);
                    string stdin = null;
                    if (e.Stdin != null)
                        try { stdin = strictUtf8.GetString(e.Stdin); } catch (ArgumentException) { }
                    list.Add(new Dictionary<string, object>
                    {
                        { "argv", e.Argv.Cast<object>().ToList() },
                        { "cwd", e.Cwd },
                        { "stdin", stdin },
                        { "result", res },
                    });
                }
            return Json.Write(new Dictionary<string, object>
            {
                { "format", "processkit-cassette" }, { "version", 1.0 }, { "interactions", list },
            }) + "\n";
        }

        /// <summary>Record mode: write the cassette (once). Replay: nothing.</summary>
        public void Dispose()
        {
            if (!recording || written)
                return;
            written = true;
            File.WriteAllText(path, ToJson(), new UTF8Encoding(false));
        }
    }

    /// <summary>A small JSON reader and writer: objects are
    /// Dictionary&lt;string, object&gt;, arrays List&lt;object&gt;, numbers
    /// double, and string, bool, null.</summary>
    internal static class Json
    {
        public static object Parse(string s)
        {
            int i = 0;
            var v = Value(s, ref i);
            Ws(s, ref i);
            if (i != s.Length) throw Err(s, i, "trailing text");
            return v;
        }

        static FormatException Err(string s, int i, string what) { return new FormatException("JSON: " + what + " at offset " + i); }

        static void Ws(string s, ref int i) { while (i < s.Length && char.IsWhiteSpace(s[i])) i++; }

        static object Value(string s, ref int i)
        {
            Ws(s, ref i);
            if (i >= s.Length) throw Err(s, i, "unexpected end");
            char c = s[i];
            if (c == '{')
            {
                var d = new Dictionary<string, object>();
                i++; Ws(s, ref i);
                if (i < s.Length && s[i] == '}') { i++; return d; }
                while (true)
                {
                    Ws(s, ref i);
                    if (i >= s.Length || s[i] != '"') throw Err(s, i, "expected a key");
                    var k = Str(s, ref i);
                    Ws(s, ref i);
                    if (i >= s.Length || s[i] != ':') throw Err(s, i, "expected ':'");
                    i++;
                    d[k] = Value(s, ref i);
                    Ws(s, ref i);
                    if (i < s.Length && s[i] == ',') { i++; continue; }
                    if (i < s.Length && s[i] == '}') { i++; return d; }
                    throw Err(s, i, "expected ',' or '}'");
                }
            }
            if (c == '[')
            {
                var l = new List<object>();
                i++; Ws(s, ref i);
                if (i < s.Length && s[i] == ']') { i++; return l; }
                while (true)
                {
                    l.Add(Value(s, ref i));
                    Ws(s, ref i);
                    if (i < s.Length && s[i] == ',') { i++; continue; }
                    if (i < s.Length && s[i] == ']') { i++; return l; }
                    throw Err(s, i, "expected ',' or ']'");
                }
            }
            if (c == '"') return Str(s, ref i);
            if (Lit(s, ref i, "true")) return true;
            if (Lit(s, ref i, "false")) return false;
            if (Lit(s, ref i, "null")) return null;
            int start = i;
            while (i < s.Length && "+-0123456789.eE".IndexOf(s[i]) >= 0) i++;
            double n;
            if (i == start || !double.TryParse(s.Substring(start, i - start), NumberStyles.Float, CultureInfo.InvariantCulture, out n))
                throw Err(s, start, "bad value");
            return n;
        }

        static bool Lit(string s, ref int i, string word)
        {
            if (string.CompareOrdinal(s, i, word, 0, word.Length) != 0) return false;
            i += word.Length;
            return true;
        }

        static string Str(string s, ref int i)
        {
            var b = new StringBuilder();
            i++;  // the opening quote
            while (true)
            {
                if (i >= s.Length) throw Err(s, i, "unterminated string");
                char c = s[i++];
                if (c == '"') return b.ToString();
                if (c != '\\') { b.Append(c); continue; }
                if (i >= s.Length) throw Err(s, i, "unterminated escape");
                char e = s[i++];
                switch (e)
                {
                    case 'n': b.Append('\n'); break;
                    case 't': b.Append('\t'); break;
                    case 'r': b.Append('\r'); break;
                    case 'b': b.Append('\b'); break;
                    case 'f': b.Append('\f'); break;
                    case 'u':
                        if (i + 4 > s.Length) throw Err(s, i, "bad \\u escape");
                        b.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 4;
                        break;
                    default: b.Append(e); break;  // \" \\ \/
                }
            }
        }

        public static string Write(object v)
        {
            var b = new StringBuilder();
            Write(b, v);
            return b.ToString();
        }

        static void Write(StringBuilder b, object v)
        {
            if (v == null) { b.Append("null"); return; }
            if (v is bool) { b.Append((bool)v ? "true" : "false"); return; }
            if (v is double) { b.Append(((double)v).ToString("R", CultureInfo.InvariantCulture)); return; }
            if (v is int || v is long) { b.Append(Convert.ToInt64(v).ToString(CultureInfo.InvariantCulture)); return; }
            var s = v as string;
            if (s != null)
            {
                b.Append('"');
                foreach (char c in s)
                {
                    switch (c)
                    {
                        case '"': b.Append("\\\""); break;
                        case '\\': b.Append("\\\\"); break;
                        case '\n': b.Append("\\n"); break;
                        case '\r': b.Append("\\r"); break;
                        case '\t': b.Append("\\t"); break;
                        default:
                            if (c < 0x20) b.Append("\\u").Append(((int)c).ToString("x4")); else b.Append(c);
                            break;
                    }
                }
                b.Append('"');
                return;
            }
            var d = v as Dictionary<string, object>;
            if (d != null)
            {
                b.Append('{');
                bool first = true;
                foreach (var kv in d)
                {
                    if (!first) b.Append(", ");
                    first = false;
                    Write(b, kv.Key);
                    b.Append(": ");
                    Write(b, kv.Value);
                }
                b.Append('}');
                return;
            }
            var l = v as System.Collections.IEnumerable;
            if (l != null)
            {
                b.Append('[');
                bool first = true;
                foreach (var x in l)
                {
                    if (!first) b.Append(", ");
                    first = false;
                    Write(b, x);
                }
                b.Append(']');
                return;
            }
            throw new ArgumentException("JSON: cannot write a " + v.GetType().Name);
        }
    }
}
