// The C# binding's tests, part 2: the shared scenario file
// (tests/scenarios/scenarios.json, found through PK_CS_SCENARIOS, which
// run_tests.sh sets from its own location), Streams, the process handle,
// pipelines, POSIX attributes, and the test doubles.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using ProcessKit;

static partial class Tests
{
    // ------------------------------------------------------- the scenario file

    static readonly string[] KnownScenarios =
        { "group_teardown", "capture", "timeout", "cancel", "streaming", "pipeline", "readiness", "pty", "supervise", "retry" };

    static void ScenarioFile()
    {
        var file = Environment.GetEnvironmentVariable("PK_CS_SCENARIOS");
        Assert(!string.IsNullOrEmpty(file) && File.Exists(file), "PK_CS_SCENARIOS names scenarios.json: " + file);
        var doc = (Dictionary<string, object>)Json.Parse(File.ReadAllText(file));
        Equal("processkit-scenarios", (string)doc["format"], "format");
        Equal(1.0, (double)doc["version"], "version");
        var ran = new List<string>();
        foreach (Dictionary<string, object> raw in (List<object>)doc["scenarios"])
        {
            var name = (string)raw["name"];
            Assert(KnownScenarios.Contains(name), "a scenario this driver knows: " + name);
            var tmp = Path.Combine(Path.GetTempPath(), "pk-cs-scn-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(tmp);
            try
            {
                RunScenario((Dictionary<string, object>)Subst(raw, tmp));
            }
            catch (Exception e)
            {
                throw new Exception("scenario " + name + ": " + e.Message, e);
            }
            finally
            {
                Directory.Delete(tmp, true);
            }
            ran.Add(name);
        }
        Assert(ran.Count >= KnownScenarios.Length, "every scenario ran: " + string.Join(",", ran));
    }

    static object Subst(object v, string tmp)
    {
        var s = v as string;
        if (s != null) return s.Replace("{tmp}", tmp);
        var d = v as Dictionary<string, object>;
        if (d != null) return d.ToDictionary(kv => kv.Key.Replace("{tmp}", tmp), kv => Subst(kv.Value, tmp));
        var l = v as List<object>;
        if (l != null) return l.Select(x => Subst(x, tmp)).ToList();
        return v;
    }

    static string[] Strings(object v) { return ((List<object>)v).Cast<string>().ToArray(); }
    static int Int(Dictionary<string, object> d, string k) { return (int)(double)d[k]; }

    static Command Cmd(string[] argv) { return new Command(argv[0], argv.Skip(1).ToArray()); }

    static void RunScenario(Dictionary<string, object> sc)
    {
        var expect = (Dictionary<string, object>)sc["expect"];
        var seen = new HashSet<string>();
        Action<string, object> check = (k, actual) =>
        {
            if (!expect.ContainsKey(k))
                return;
            seen.Add(k);
            Equal(Json.Write(expect[k]), Json.Write(actual), k);
        };
        Action<RunResult, double> checkResult = (r, elapsedMs) =>
        {
            check("outcome", r.Outcome.SnakeName());
            check("exit_code", r.ExitCode);
            check("success", r.Success);
            check("stdout", r.StdoutText);
            check("stderr", r.StderrText);
            if (expect.ContainsKey("elapsed_min_ms"))
            {
                seen.Add("elapsed_min_ms");
                Assert(elapsedMs >= (double)expect["elapsed_min_ms"], "elapsed " + elapsedMs + " ms >= " + expect["elapsed_min_ms"]);
            }
            if (expect.ContainsKey("elapsed_max_ms"))
            {
                seen.Add("elapsed_max_ms");
                Assert(elapsedMs <= (double)expect["elapsed_max_ms"], "elapsed " + elapsedMs + " ms <= " + expect["elapsed_max_ms"]);
            }
        };
        Action checkFiles = () =>
        {
            if (expect.ContainsKey("file_lines"))
            {
                seen.Add("file_lines");
                foreach (var kv in (Dictionary<string, object>)expect["file_lines"])
                    Equal((int)(double)kv.Value, File.ReadAllLines(kv.Key).Length, "lines of " + kv.Key);
            }
            if (expect.ContainsKey("file_text"))
            {
                seen.Add("file_text");
                foreach (var kv in (Dictionary<string, object>)expect["file_text"])
                    Equal((string)kv.Value, File.ReadAllText(kv.Key), "text of " + kv.Key);
            }
        };
        var kind = (string)sc["kind"];
        var sw = Stopwatch.StartNew();
        switch (kind)
        {
            case "run":
            {
                var cmd = Cmd(Strings(sc["argv"]));
                var outLines = new List<string>();
                var errLines = new List<string>();
                bool stream = sc.ContainsKey("stream_lines") && (bool)sc["stream_lines"];
                if (stream)
                {
                    cmd.OnLine(StdStream.Stdout, l => outLines.Add(l));
                    cmd.OnLine(StdStream.Stderr, l => errLines.Add(l));
                }
                if (sc.ContainsKey("pty") && (bool)sc["pty"])
                    cmd.Pty(24, 80);
                if (sc.ContainsKey("timeout_ms"))
                    cmd.Timeout(TimeSpan.FromMilliseconds(Int(sc, "timeout_ms")));
                RunResult r;
                if (sc.ContainsKey("cancel_after_ms"))
                {
                    using (var cts = new CancellationTokenSource())
                    {
                        cts.CancelAfter(Int(sc, "cancel_after_ms"));
                        try
                        {
                            r = cmd.Run(cts.Token);
                            throw new Exception("Run(token) returned instead of throwing RunCancelledException");
                        }
                        catch (RunCancelledException e)
                        {
                            r = e.Result;
                        }
                    }
                }
                else
                {
                    r = cmd.Run();
                }
                checkResult(r, sw.Elapsed.TotalMilliseconds);
                if (stream)
                {
                    check("stdout_lines", outLines);
                    check("stderr_lines", errLines);
                }
                check("stdout_lines_crlf_stripped", r.StdoutText.Replace("\r", "").Split('\n').Where(l => l.Length > 0).ToList());
                break;
            }
            case "group":
            {
                var pidFile = (string)sc["pid_file"];
                var g = new Group();
                NoteCgroup(g.Containment);
                int pid = 0;
                using (var child = g.Spawn(Strings(sc["argv"])))
                {
                    Assert(WaitUntil(() => File.Exists(pidFile), Int(sc, "pid_file_wait_max_ms") / 1000.0), "pid file written");
                    pid = int.Parse(File.ReadAllText(pidFile).Trim());
                }
                string start = StartTime(pid);
                check("grandchild_alive_before_free", !IsDead(pid, start));
                g.Dispose();
                if (expect.ContainsKey("grandchild_dead_after_free_max_ms"))
                {
                    seen.Add("grandchild_dead_after_free_max_ms");
                    Assert(WaitUntil(() => IsDead(pid, start), (double)expect["grandchild_dead_after_free_max_ms"] / 1000), "grandchild dead after Dispose");
                }
                break;
            }
            case "pipeline":
            {
                var cmds = ((List<object>)sc["stages"]).Select(s => Cmd(Strings(s))).ToArray();
                using (var p = new Pipeline(cmds))
                    checkResult(p.Run(), sw.Elapsed.TotalMilliseconds);
                break;
            }
            case "start":
            {
                var then = (string)sc["then"];
                Assert(then == "cancel", "a 'then' this driver knows: " + then);
                using (var p = Cmd(Strings(sc["argv"])).Start())
                {
                    var info = p.WaitForLine((string)sc["wait_for_line"], TimeSpan.FromMilliseconds(Int(sc, "ready_timeout_ms")), regex: true);
                    check("ready", info.Ready);
                    p.Cancel();
                    checkResult(p.Wait(), sw.Elapsed.TotalMilliseconds);
                }
                break;
            }
            case "supervise":
            {
                var rep = Cmd(Strings(sc["argv"])).Supervise(new SuperviseOptions
                {
                    Restart = EnumNames.ParseSnake<Restart>((string)sc["restart"]),
                    MaxRestarts = Int(sc, "max_restarts"),
                    BackoffInitial = TimeSpan.FromMilliseconds(Int(sc, "backoff_initial_ms")),
                });
                check("runs", rep.Runs);
                check("restarts", rep.Restarts);
                check("stop_reason", rep.StopReason.SnakeName());
                checkFiles();
                break;
            }
            case "retry":
            {
                var r = Cmd(Strings(sc["argv"])).RunRetry(new RetryOptions
                {
                    MaxAttempts = Int(sc, "max_attempts"),
                    InitialDelay = TimeSpan.FromMilliseconds(Int(sc, "initial_delay_ms")),
                });
                checkResult(r, sw.Elapsed.TotalMilliseconds);
                checkFiles();
                break;
            }
            default:
                throw new Exception("a kind this driver does not know: " + kind);
        }
        var unchecked_ = expect.Keys.Where(k => !seen.Contains(k)).ToList();
        Assert(unchecked_.Count == 0, "every expect key checked; not: " + string.Join(",", unchecked_));
    }

    // ------------------------------------------------------------- quickstart

    // README.md's quickstart is this method's body, verbatim.
    static async Task Quickstart()
    {
        using (var g = new Group())                        // cgroup v2 here, else process group
            g.Spawn("sh", "-c", "sleep 30 & sleep 30");    // Dispose kills the whole tree
        var r = new Command("sh", "-c", "echo hi; exit 3").Run();
        Console.WriteLine($"{r.ExitCode} {r.StdoutText}"); // 3 "hi\n": a non-zero exit is data
        using (var server = new Command("sh", "-c", "echo ready; exec sleep 30").Start())
        {
            Console.WriteLine(server.WaitForLine("ready", TimeSpan.FromSeconds(5)).Ready); // True: probes return data
            server.Signal(Signal.Term);                    // typed signals
            Console.WriteLine((await server.WaitAsync()).Outcome); // Signalled
        }
        Console.Write(new Pipeline(new Command("printf", "b\\na\\n"), new Command("sort")).Run().StdoutText); // a b
        using (var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
            try { new Command("sleep", "30").Run(cts.Token); }
            catch (RunCancelledException e) { Console.WriteLine(e.Result.Outcome); } // Cancelled
    }

    static void ReadmeQuickstart()
    {
        Quickstart().Wait();
        var readme = Environment.GetEnvironmentVariable("PK_CS_README");
        Assert(!string.IsNullOrEmpty(readme) && File.Exists(readme), "PK_CS_README names README.md");
        var src = Environment.GetEnvironmentVariable("PK_CS_SCENARIO_TESTS");
        var text = File.ReadAllText(src);
        int a = text.IndexOf("static async Task Quickstart()");
        int open = text.IndexOf("    {\n", a) + 6;
        int close = text.IndexOf("\n    }\n", open);
        var body = string.Join("\n", text.Substring(open, close - open).Split('\n').Select(l => l.Length >= 8 ? l.Substring(8) : l.Trim()));
        Assert(File.ReadAllText(readme).Contains(body), "README.md's quickstart is Quickstart()'s body:\n" + body);
    }

    // ---------------------------------------------------------------- streams

    static void StreamsForStdio()
    {
        // stdin from a Stream, stdout and stderr into Streams.
        var input = new MemoryStream(Encoding.UTF8.GetBytes("one\ntwo\n"));
        var output = new MemoryStream();
        var errors = new MemoryStream();
        var r = new Command("sh", "-c", "cat; echo e >&2").Stdin(input).Stdout(output).Stderr(errors).RunChecked();
        Equal("one\ntwo\n", Encoding.UTF8.GetString(output.ToArray()), "stdout into a Stream");
        Equal("e\n", Encoding.UTF8.GetString(errors.ToArray()), "stderr into a Stream");
        Equal(0, r.Stdout.Length, "nothing captured");
        // A large stdin through the pump, and a command that reads none of it.
        var big = new byte[1 << 20];
        new Random(1).NextBytes(big);
        var sink = new MemoryStream();
        new Command("cat").Stdin(new MemoryStream(big)).Stdout(sink).RunChecked();
        Assert(sink.ToArray().SequenceEqual(big), "1 MiB round trip");
        Equal(0, new Command("true").Stdin(new MemoryStream(big)).Run().ExitCode, "a child that reads nothing");
        // A started process's StandardInput / StandardOutput.
        using (var p = new Command("sh", "-c", "read x; echo got $x; echo err >&2")
                   .RedirectStandardInput().RedirectStandardOutput().Start())
        {
            Assert(p.StandardInput != null && p.StandardOutput != null && p.StandardError == null, "streams as redirected");
            var w = new StreamWriter(p.StandardInput);
            w.Write("hello\n");
            w.Flush();
            p.StandardInput.Dispose();
            var reader = new StreamReader(p.StandardOutput);
            Equal("got hello", reader.ReadLine(), "read from StandardOutput");
            var res = p.Wait();
            Equal("err\n", res.StderrText, "stderr still captured");
        }
        // Group.Spawn with Stdio.Piped.
        using (var g = new Group())
        {
            NoteCgroup(g.Containment);
            using (var c = g.Spawn(new SpawnOptions("sh", "-c", "read x; echo spawn $x") { Stdin = Stdio.Piped, Stdout = Stdio.Piped, Stderr = Stdio.Null }))
            {
                var bytes = Encoding.UTF8.GetBytes("piped\n");
                c.StandardInput.Write(bytes, 0, bytes.Length);
                c.StandardInput.Dispose();
                Equal("spawn piped\n", new StreamReader(c.StandardOutput).ReadToEnd(), "a spawned child's StandardOutput");
                Equal(0, c.Wait().Code, "exit");
            }
            // A file as stdout (Stdio.From).
            var f = Path.Combine(TempDir(), "out.txt");
            using (var fs = new FileStream(f, FileMode.Create))
            using (var c = g.Spawn(new SpawnOptions("echo", "to-file") { Stdout = Stdio.From(fs) }))
                c.Wait();
            Equal("to-file\n", File.ReadAllText(f), "Stdio.From(FileStream)");
        }
    }

    // ------------------------------------------------------------ the handle

    static void RunningProcessHandle()
    {
        using (var p = new Command("sh", "-c", "echo $$; exec sleep 30").Start())
        {
            Assert(p.Pid > 0 && !p.HasExited, "pid and running");
            var info = p.WaitForLine("^[0-9]+$", TimeSpan.FromSeconds(10), regex: true, stream: StdStream.Stdout);
            Assert(info.Ready && info.Kind == ReadyKind.Line && info.LastLine == p.Pid.ToString(), "line probe as data: " + info);
            Equal(ReadyOutcome.Met, p.Readiness.Outcome, "Readiness");
            var none = p.WaitForLine("never", TimeSpan.FromMilliseconds(200));
            Assert(!none.Ready && none.Outcome == ReadyOutcome.TimedOut, "a probe not met is data: " + none);
            using (var cts = new CancellationTokenSource(200))
                Throws<OperationCanceledException>(() => p.WaitForLine("never", TimeSpan.FromSeconds(30), cancellationToken: cts.Token), "probe cancelled by token");
            int asked = 0;
            Assert(p.WaitFor(() => ++asked >= 3, TimeSpan.FromMilliseconds(10), TimeSpan.FromSeconds(10)).Ready, "WaitFor predicate");
            using (var cts = new CancellationTokenSource(100))
                Throws<OperationCanceledException>(() => p.WaitAsync(cts.Token).GetAwaiter().GetResult(), "WaitAsync's token cancels the wait");
            Assert(!p.HasExited, "...not the run");
            p.Signal(Signal.Term);
            var r = p.WaitAsync().Result;
            Equal(Outcome.Signalled, r.Outcome, "signalled");
            Equal(Signal.Term, r.Signal, "by SIGTERM");
            Equal("killed by signal SIGTERM", r.ToString(), "signal name");
        }
        // Port probe.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using (var p = new Command("sleep", "30").Start())
        {
            var info = p.WaitForPort(port, TimeSpan.FromSeconds(10));
            Assert(info.Ready && info.Port == port && info.Kind == ReadyKind.Port, "port probe: " + info);
            p.Cancel();
            Equal(Outcome.Cancelled, p.Wait().Outcome, "cancelled");
        }
        listener.Stop();
        // PTY: write to it, resize it.
        using (var p = new Command("sh", "-c", "read x; stty size; echo got $x").Pty(24, 80).Start())
        {
            p.Resize(30, 100);
            p.Write("typed\n");
            var r = p.Wait();
            var lines = r.StdoutText.Replace("\r", "");
            Assert(lines.Contains("30 100") && lines.Contains("got typed"), "pty resize and write: " + lines);
        }
        // Start in a caller's group; wait for several on one loop.
        using (var loop = new Loop())
        using (var g = new Group())
        {
            NoteCgroup(g.Containment);
            var a = new Command("sleep", "30").Start(loop, g);
            var b = new Command("true").Start(loop, g);
            Equal(1, loop.WaitAny(new[] { a, b }, TimeSpan.FromSeconds(10)), "WaitAny: the short one");
            a.Cancel();
            Assert(loop.WaitAll(new[] { a, b }, TimeSpan.FromSeconds(10)), "WaitAll");
            Assert(loop.PollFd >= 0, "loop fd");
            a.Dispose();
            b.Dispose();
        }
        // Start errors throw at once.
        Throws<ProgramNotFoundException>(() => new Command("pk-cs-no-such-program").Start(), "start error");
    }

    // ------------------------------------------------------------- pipelines

    static void PipelineStages()
    {
        using (var p = new Pipeline(new Command("sh", "-c", "echo x; exit 3"), new Command("cat")))
        {
            var r = p.Run();
            Equal(3, r.ExitCode, "pipefail");
            Equal(0, r.FailedStage, "failed stage");
            Equal(2, r.Stages.Count, "stages");
            Equal(3, r.Stages[0].ExitCode, "stage 0");
            Equal("x\n", r.StdoutText, "last stage's output");
        }
        using (var p = new Pipeline().Add(new Command("false"), @unchecked: true).Add(new Command("echo", "ok")))
            Assert(p.RunChecked().Success, "an unchecked stage");
        using (var p = new Pipeline(new Command("sleep", "30"), new Command("cat")))
        using (var cts = new CancellationTokenSource(200))
        {
            var sw = Stopwatch.StartNew();
            var e = Throws<RunCancelledException>(() => p.Run(cts.Token), "pipeline cancelled");
            Equal(Outcome.Cancelled, e.Result.Outcome, "outcome");
            Assert(sw.Elapsed.TotalSeconds < 5, "promptly");
        }
        using (var p = new Pipeline(new Command("sleep", "30")).Timeout(TimeSpan.FromMilliseconds(200)))
            Equal(Outcome.TimedOut, p.RunAsync().Result.Outcome, "pipeline timeout, async");
        using (var token = new CancelToken())
        using (var p = new Pipeline(new Command("sleep", "30")).SigpipeFails().CancelOn(token))
        {
            var t = p.RunAsync();
            Thread.Sleep(100);
            token.Trigger();
            Equal(Outcome.Cancelled, t.Result.Outcome, "CancelOn token");
        }
    }

    // ---------------------------------------------------- POSIX attributes

    static void PosixAttributes()
    {
        Equal("0027\n", new Command("sh", "-c", "umask").Umask(Convert.ToUInt32("027", 8)).RunChecked().StdoutText, "umask");
        Equal("64\n", new Command("sh", "-c", "ulimit -n").ResourceLimit(Resource.OpenFiles, 64, 64).RunChecked().StdoutText, "rlimit");
        var f = Path.Combine(TempDir(), "fd5.txt");
        using (var fs = new FileStream(f, FileMode.Create))
            new Command("sh", "-c", "echo mapped >&5").MapFd(5, fs.SafeFileHandle).RunChecked();
        Equal("mapped\n", File.ReadAllText(f), "map fd");
        var uid = new Command("id", "-u").RunChecked().StdoutText.Trim();
        var gid = new Command("id", "-g").RunChecked().StdoutText.Trim();
        Equal(uid + "\n", new Command("id", "-u").User(uint.Parse(uid), uint.Parse(gid)).RunChecked().StdoutText, "user");
        // A new session (the child is its own session leader), with NoWindow (no effect here).
        var stat = new Command("sh", "-c", "cat /proc/$$/stat").NewSession().CreateNoWindow().RunChecked().StdoutText;
        var fields = stat.Substring(stat.LastIndexOf(')') + 2).Split(' ');
        Equal(stat.Split(' ')[0], fields[3], "session id is the child's pid");
        var still = new Command("sh", "-c", "cat /proc/$$/stat").CreateNoWindow().NewSession(false).RunChecked().StdoutText;
        Assert(still.Substring(still.LastIndexOf(')') + 2).Split(' ')[3] != still.Split(' ')[0], "NewSession(false) with NoWindow kept");
        // Parent-death signal and a typed timeout signal are accepted.
        Equal(Outcome.TimedOut, new Command("sleep", "30").ParentDeathSignal(Signal.Kill)
            .Timeout(TimeSpan.FromMilliseconds(100), Signal.Int, TimeSpan.FromMilliseconds(100)).Run().Outcome, "timeout with SIGINT");
        // Names.
        Equal("SIGTERM", Signal.Term.SignalName(), "signal name");
        Equal("timed_out", Outcome.TimedOut.SnakeName(), "outcome name");
        Equal(Outcome.Cancelled, EnumNames.ParseSnake<Outcome>("cancelled"), "parse name");
        Equal("TimedOut", Outcome.TimedOut.ToString(), "enums print as names");
        // The group's ops with typed signals.
        using (var g = new Group())
        {
            NoteCgroup(g.Containment);
            using (var c = g.Spawn(new SpawnOptions("sleep", "30") { ParentDeathSignal = Signal.Kill, CreateNoWindow = true }))
            {
                g.Suspend();
                g.Resume();
                g.Signal(Signal.Term);
                var s = c.Wait(TimeSpan.FromSeconds(10));
                Equal(Signal.Term, s.Signal, "group signal");
            }
        }
        // Retry with a classifier, supervision with events and a stop token.
        int attempts = 0;
        var rr = new Command("false").RunRetry(new RetryOptions { MaxAttempts = 5, InitialDelay = TimeSpan.FromMilliseconds(1) },
                                                (res, attempt) => { attempts = attempt; return attempt < 2; });
        Equal(2, attempts, "classifier stopped after attempt 2");
        Equal(1, rr.ExitCode, "last attempt's result");
        var events = new List<SuperviseEvent>();
        using (var cts = new CancellationTokenSource(300))
        {
            var rep = new Command("sleep", "30").Supervise(new SuperviseOptions { Restart = Restart.Always },
                                                           e => { lock (events) events.Add(e.Kind); }, null, cts.Token);
            Equal(SuperviseEvent.Stopped, rep.StopReason, "stopped by the token");
            Assert(events.Contains(SuperviseEvent.Started), "events: " + string.Join(",", events));
        }
        var stopped = new Command("true").Supervise(new SuperviseOptions { Restart = Restart.Always, BackoffInitial = TimeSpan.FromMilliseconds(1) },
                                                    null, res => res.Success);
        Equal(1, stopped.Runs, "stopWhen after the first run");
    }

    // ----------------------------------------------------------- test doubles

    // Code under test takes an IRunner.
    static string CurrentCommit(IRunner runner)
    {
        return runner.Run(new Command("git", "rev-parse", "HEAD")).Check().StdoutText.Trim();
    }

    static void ScriptedRunnerTest()
    {
        var runner = new ScriptedRunner()
            .Expect(ScriptedReply.Ok("3f9c2e1\n"), "git", "rev-parse")
            .Expect(ScriptedReply.Fail(2, "no such ref\n"), "git", "show")
            .Expect(ScriptedReply.Timeout(), "slow")
            .Expect(ScriptedReply.Signalled(Signal.Kill), "killed")
            .Expect(ScriptedReply.Cancelled(), "gone");
        Equal("3f9c2e1", CurrentCommit(runner), "scripted answer");
        var fail = runner.Run(new Command("git", "show", "nope").WorkingDirectory("/src").Env("A", "1").Stdin("in"));
        Equal(2, fail.ExitCode, "fail exit code");
        var e = Throws<CommandFailedException>(() => fail.Check(), "fail checks as a real run does");
        Assert(e.Message.Contains("git") && e.Message.Contains("no such ref"), "message: " + e.Message);
        Throws<CommandTimedOutException>(() => runner.Run(new Command("slow")).Check(), "timeout");
        Equal(Signal.Kill, runner.Run(new Command("killed")).Signal, "signalled");
        Throws<CommandCancelledException>(() => runner.RunAsync(new Command("gone")).Result.Check(), "cancelled");
        var u = Throws<UnexpectedCommandException>(() => runner.Run(new Command("rm", "-rf", "/")), "unexpected argv");
        Assert(u.Message.Contains("[\"rm\", \"-rf\", \"/\"]"), "names the argv in full: " + u.Message);
        var inv = runner.Invocations;
        Equal(6, inv.Count, "invocations recorded");
        Equal("git show nope", string.Join(" ", inv[1].Argv), "argv");
        Equal("/src", inv[1].Cwd, "cwd");
        Equal("1", inv[1].Env["A"], "env");
        Equal("in", Encoding.UTF8.GetString(inv[1].Stdin), "stdin");
        // A fallback answers what nothing matches.
        runner.Fallback = ProcessRunner.Default;
        Equal("real\n", runner.Run(new Command("echo", "real")).StdoutText, "fallback to the real runner");
    }

    static void RecordReplayTest()
    {
        var dir = TempDir();
        var cassette = Path.Combine(dir, "cassette.json");
        var marker = Path.Combine(dir, "side-effect");
        Func<Command> cmd = () => new Command("sh", "-c", "touch '" + marker + "'; echo recorded; exit 4").WorkingDirectory(dir);
        using (var rec = RecordReplayRunner.Record(cassette))
        {
            Equal(4, rec.Run(cmd()).ExitCode, "recorded for real");
            Equal("two\n", rec.RunAsync(new Command("echo", "two")).Result.StdoutText, "recorded async");
        }
        Assert(File.Exists(marker), "the recorded run ran");
        File.Delete(marker);
        var doc = (Dictionary<string, object>)Json.Parse(File.ReadAllText(cassette));
        Equal("processkit-cassette", (string)doc["format"], "format");
        var first = (Dictionary<string, object>)((List<object>)doc["interactions"])[0];
        Equal(dir, (string)first["cwd"], "cwd recorded");
        Equal("exited", (string)((Dictionary<string, object>)first["result"])["outcome"], "outcome by name");
        using (var rep = RecordReplayRunner.Replay(cassette))
        {
            var r = rep.Run(cmd());
            Equal(4, r.ExitCode, "replayed exit code");
            Equal("recorded\n", r.StdoutText, "replayed stdout");
            Throws<CommandFailedException>(() => r.Check(), "replayed check");
            Assert(!File.Exists(marker), "replay spawned nothing");
            var again = Throws<UnexpectedCommandException>(() => rep.Run(cmd()), "no more answers");
            Assert(again.Message.Contains("no more answers"), again.Message);
            Throws<UnexpectedCommandException>(() => rep.Run(new Command("echo", "other")), "not in the cassette");
        }
        // A cassette with stdout_base64 (bytes that are not UTF-8), written by hand.
        var b64 = Path.Combine(dir, "b64.json");
        File.WriteAllText(b64, "{\"format\": \"processkit-cassette\", \"version\": 1, \"interactions\": [" +
            "{\"argv\": [\"dump\"], \"cwd\": null, \"stdin\": null, \"future_field\": 1, \"result\": {\"outcome\": \"signalled\", " +
            "\"exit_code\": 0, \"signal\": 9, \"stdout_base64\": \"/wA=\", \"stderr\": \"\", \"duration_ms\": 2}}]}");
        using (var rep = RecordReplayRunner.Replay(b64))
        {
            var r = rep.Run(new Command("dump").WorkingDirectory("/anywhere"));
            Assert(r.Stdout.SequenceEqual(new byte[] { 0xff, 0x00 }), "stdout_base64 decoded");
            Equal(Outcome.Signalled, r.Outcome, "signalled");
            Equal(Signal.Kill, r.Signal, "signal");
        }
        // Recording bytes that are not UTF-8 writes stdout_base64.
        var bin = Path.Combine(dir, "bin.json");
        using (var rec = RecordReplayRunner.Record(bin))
            rec.Run(new Command("printf", "\\377\\000"));
        var text = File.ReadAllText(bin);
        Assert(text.Contains("\"stdout_base64\": \"/wA=\"") && !text.Contains("\"stdout\":"), "base64 written: " + text);
        // Refused: another format or version.
        File.WriteAllText(b64, "{\"format\": \"processkit-cassette\", \"version\": 2, \"interactions\": []}");
        Throws<FormatException>(() => RecordReplayRunner.Replay(b64), "version 2 refused");
    }
}
