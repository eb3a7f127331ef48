// processkit for C#, part 2 (hand-written): typed signals and limits, Stream
// stdio, a handle to a running process with readiness probes, pipelines,
// supervision, retry, and the POSIX attributes of a command. C# 7.2; only
// APIs Mono 6.8 and .NET (Core 2+, 5+) both have.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Win32.SafeHandles;

namespace ProcessKit
{
    // ----------------------------------------------------------- typed values

    /// <summary>A POSIX signal (Linux numbers). Windows knows Kill, and Break
    /// (21, CTRL_BREAK for a run started with NewSession).</summary>
    public enum Signal
    {
        None = 0, Hup = 1, Int = 2, Quit = 3, Ill = 4, Trap = 5, Abrt = 6, Bus = 7, Fpe = 8, Kill = 9,
        Usr1 = 10, Segv = 11, Usr2 = 12, Pipe = 13, Alrm = 14, Term = 15, Chld = 17, Cont = 18, Stop = 19,
        Tstp = 20, Ttin = 21, Ttou = 22, Xcpu = 24, Xfsz = 25, Winch = 28,
    }

    /// <summary>An RLIMIT_* resource (Linux numbers) for Command.ResourceLimit.</summary>
    public enum Resource
    {
        Cpu = 0, FileSize = 1, Data = 2, Stack = 3, Core = 4, Rss = 5, Processes = 6, OpenFiles = 7,
        MemLock = 8, AddressSpace = 9,
    }

    /// <summary>The stable lower-case names the cassette, the scenario file and
    /// the C library use ("timed_out", "gave_up", "SIGTERM").</summary>
    public static class EnumNames
    {
        /// <summary>"TimedOut" -> "timed_out".</summary>
        public static string SnakeName(this Enum value)
        {
            var s = value.ToString();
            var b = new StringBuilder();
            for (int i = 0; i < s.Length; i++)
            {
                if (char.IsUpper(s[i]) && i > 0)
                    b.Append('_');
                b.Append(char.ToLowerInvariant(s[i]));
            }
            return b.ToString();
        }

        /// <summary>The value whose SnakeName is <paramref name="name"/>.</summary>
        public static T ParseSnake<T>(string name) where T : struct
        {
            foreach (T v in Enum.GetValues(typeof(T)))
                if (((Enum)(object)v).SnakeName() == name)
                    return v;
            throw new FormatException("not a " + typeof(T).Name + " name: '" + name + "'");
        }

        /// <summary>"SIGTERM" (or the number for a signal without a name here).</summary>
        public static string SignalName(this Signal s)
        {
            return Enum.IsDefined(typeof(Signal), s) ? "SIG" + s.ToString().ToUpperInvariant() : ((int)s).ToString();
        }
    }

    /// <summary>Cancellation through a CancellationToken ended a blocking
    /// call; <see cref="Result"/> is the run's result when there is one.</summary>
    public class RunCancelledException : OperationCanceledException
    {
        public RunResult Result { get; private set; }
        public RunCancelledException(RunResult result, CancellationToken token)
            : base("the run was cancelled" + (result != null ? " (" + result + ")" : ""), token) { Result = result; }
    }

    // ------------------------------------------------------------------ stdio

    /// <summary>The libc calls the binding needs for pipes, so callers need none.</summary>
    static class Posix
    {
        [DllImport("libc", SetLastError = true)] static extern int pipe2([Out] int[] fds, int flags);
        [DllImport("libc", SetLastError = true)] internal static extern int close(int fd);
        const int O_CLOEXEC = 0x80000;

        /// <summary>[read end, write end], close-on-exec (the library dup2s
        /// the child's end onto 0-2, which clears the flag there).</summary>
        internal static int[] Pipe()
        {
            var fds = new int[2];
            if (pipe2(fds, O_CLOEXEC) != 0)
                throw new IOException("pipe2 failed, errno " + Marshal.GetLastWin32Error());
            return fds;
        }

        [DllImport("libc", SetLastError = true)] static extern IntPtr read(int fd, byte[] buf, UIntPtr count);
        [DllImport("libc", SetLastError = true)] static extern IntPtr write(int fd, byte[] buf, UIntPtr count);
        const int EINTR = 4;

        /// <summary>A Stream over a pipe end this binding made (Mono's
        /// FileStream refuses an fd its own I/O layer did not open).</summary>
        internal static FdStream Stream(int fd, FileAccess access) { return new FdStream(fd, access); }

        internal static int Read(int fd, byte[] buf, int offset, int count)
        {
            var tmp = offset == 0 ? buf : new byte[count];
            while (true)
            {
                long n = (long)read(fd, tmp, (UIntPtr)count);
                if (n >= 0)
                {
                    if (tmp != buf) Buffer.BlockCopy(tmp, 0, buf, offset, (int)n);
                    return (int)n;
                }
                int errno = Marshal.GetLastWin32Error();
                if (errno != EINTR)
                    throw new IOException("read failed, errno " + errno);
            }
        }

        internal static void Write(int fd, byte[] buf, int offset, int count)
        {
            while (count > 0)
            {
                var chunk = new byte[count];
                Buffer.BlockCopy(buf, offset, chunk, 0, count);
                long n = (long)write(fd, chunk, (UIntPtr)count);
                if (n < 0)
                {
                    int errno = Marshal.GetLastWin32Error();
                    if (errno == EINTR) continue;
                    throw new IOException("write failed, errno " + errno);  // EPIPE: the reader is gone
                }
                offset += (int)n;
                count -= (int)n;
            }
        }
    }

    /// <summary>One end of a pipe, as a Stream; Dispose closes it.</summary>
    sealed class FdStream : Stream
    {
        int fd;
        readonly FileAccess access;
        internal FdStream(int fd, FileAccess access) { this.fd = fd; this.access = access; }
        public override bool CanRead { get { return fd >= 0 && access == FileAccess.Read; } }
        public override bool CanWrite { get { return fd >= 0 && access == FileAccess.Write; } }
        public override bool CanSeek { get { return false; } }
        public override long Length { get { throw new NotSupportedException(); } }
        public override long Position { get { throw new NotSupportedException(); } set { throw new NotSupportedException(); } }
        public override void Flush() { }
        public override long Seek(long o, SeekOrigin s) { throw new NotSupportedException(); }
        public override void SetLength(long v) { throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (!CanRead) throw new NotSupportedException("not a readable pipe end, or closed");
            return count == 0 ? 0 : Posix.Read(fd, buffer, offset, count);
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            if (!CanWrite) throw new NotSupportedException("not a writable pipe end, or closed");
            Posix.Write(fd, buffer, offset, count);
        }

        protected override void Dispose(bool disposing)
        {
            int f = Interlocked.Exchange(ref fd, -1);
            if (f >= 0)
                Posix.close(f);
            base.Dispose(disposing);
        }

        ~FdStream() { Dispose(false); }
    }

    /// <summary>A child's stdio slot for Group.Spawn.</summary>
    public sealed class Stdio
    {
        internal readonly int Kind;  // 0 inherit, 1 null, 2 handle, 3 piped
        internal readonly SafeHandle Handle;
        Stdio(int kind, SafeHandle h) { Kind = kind; Handle = h; }

        /// <summary>The caller's own stream of that number (the default).</summary>
        public static readonly Stdio Inherit = new Stdio(0, null);
        /// <summary>/dev/null.</summary>
        public static readonly Stdio Null = new Stdio(1, null);
        /// <summary>A new pipe: the Child's StandardInput/StandardOutput/StandardError Stream.</summary>
        public static readonly Stdio Piped = new Stdio(3, null);
        /// <summary>An open file or pipe (it stays the caller's: not closed).</summary>
        public static Stdio From(SafeHandle handle)
        {
            if (handle == null) throw new ArgumentNullException("handle");
            return new Stdio(2, handle);
        }
        public static Stdio From(FileStream stream) { stream.Flush(); return From(stream.SafeFileHandle); }
    }

    /// <summary>Pipes made for one Group.Spawn.</summary>
    sealed class SpawnPipes
    {
        readonly List<int> childEnds = new List<int>();
        readonly FdStream[] parent = new FdStream[3];

        internal int Fd(Stdio s, int which)
        {
            s = s ?? Stdio.Inherit;
            switch (s.Kind)
            {
                case 1: return Native.PK_STDIO_NULL;
                case 2: return Command.FdOf(s.Handle);
                case 3:
                    var p = Posix.Pipe();
                    int mine = which == 0 ? p[1] : p[0], theirs = which == 0 ? p[0] : p[1];
                    childEnds.Add(theirs);
                    parent[which] = Posix.Stream(mine, which == 0 ? FileAccess.Write : FileAccess.Read);
                    return theirs;
                default: return Native.PK_STDIO_INHERIT;
            }
        }

        internal void Started(Child c)
        {
            foreach (var fd in childEnds) Posix.close(fd);
            c.StandardInput = parent[0];
            c.StandardOutput = parent[1];
            c.StandardError = parent[2];
        }

        internal void Abort()
        {
            foreach (var fd in childEnds) Posix.close(fd);
            foreach (var f in parent) if (f != null) f.Dispose();
        }
    }

    /// <summary>The pipes and pump threads of one start of a command whose
    /// stdio is a Stream: made just before the start, the child's ends
    /// closed in this process right after it.</summary>
    sealed class StdioSession
    {
        readonly List<int> childEnds = new List<int>();
        readonly List<Thread> pumps = new List<Thread>();
        readonly List<IDisposable> parentEnds = new List<IDisposable>();
        Exception pumpError;
        internal FdStream StdoutReader, StderrReader;

        internal bool HasPumps { get { return pumps.Count > 0; } }

        internal int PipeFrom(Stream source)
        {
            var p = Posix.Pipe();
            childEnds.Add(p[0]);
            var w = Posix.Stream(p[1], FileAccess.Write);
            parentEnds.Add(w);
            Pump(() =>
            {
                try { source.CopyTo(w); }
                catch (IOException) { }  // the child stopped reading (EPIPE): its choice
                finally { w.Dispose(); }
            });
            return p[0];
        }

        internal int PipeTo(Stream sink)
        {
            var p = Posix.Pipe();
            childEnds.Add(p[1]);
            var r = Posix.Stream(p[0], FileAccess.Read);
            parentEnds.Add(r);
            Pump(() =>
            {
                try
                {
                    r.CopyTo(sink);
                    sink.Flush();
                }
                catch (Exception e) { Interlocked.CompareExchange(ref pumpError, e, null); }
                finally { r.Dispose(); }
            });
            return p[1];
        }

        internal int Reader(StdStream which)
        {
            var p = Posix.Pipe();
            childEnds.Add(p[1]);
            var r = Posix.Stream(p[0], FileAccess.Read);
            if (which == StdStream.Stdout) StdoutReader = r; else StderrReader = r;
            return p[1];
        }

        void Pump(ThreadStart body)
        {
            // Started only once the run has started (AfterStart), so an abort leaves no thread.
            pumps.Add(new Thread(body) { IsBackground = true, Name = "processkit-stdio" });
        }

        internal void AfterStart()
        {
            foreach (var fd in childEnds) Posix.close(fd);
            childEnds.Clear();
            foreach (var t in pumps) t.Start();
        }

        internal void Abort()
        {
            foreach (var fd in childEnds) Posix.close(fd);
            childEnds.Clear();
            foreach (var t in pumps)
                if (t.ThreadState != System.Threading.ThreadState.Unstarted)
                    t.Join();
            pumps.Clear();
            foreach (var d in parentEnds) d.Dispose();
            if (StdoutReader != null) StdoutReader.Dispose();
            if (StderrReader != null) StderrReader.Dispose();
        }

        /// <summary>Waits for the pumps (end of file once the run's tree is gone) and rethrows a sink's error.</summary>
        internal void Finish()
        {
            foreach (var t in pumps) t.Join();
            pumps.Clear();
            var e = pumpError;
            if (e != null)
                ExceptionDispatchInfo.Capture(e).Throw();
        }
    }

    // --------------------------------------------------------------- commands

    public sealed partial class Command
    {
        // What the runner seam and the doubles see of a command (guarded by lock (argv)).
        readonly List<string> argv = new List<string>();
        readonly Dictionary<string, string> env = new Dictionary<string, string>();
        uint flags;
        int[] okCodes = { 0 };
        CancelToken userToken;
        // Stream stdio, applied at each start under StdioLock.
        internal readonly object StdioLock = new object();
        Stream stdinSource, stdoutSink, stderrSink;
        bool stdinPiped, redirectOut, redirectErr;

        /// <summary>The full argv, program first.</summary>
        public IReadOnlyList<string> Argv { get { lock (argv) return argv.ToArray(); } }
        /// <summary>The working directory set with WorkingDirectory(string), or null.</summary>
        public string Cwd { get; private set; }
        /// <summary>Environment changes: a null value is an unset.</summary>
        public IReadOnlyDictionary<string, string> EnvChanges { get { lock (argv) return new Dictionary<string, string>(env); } }
        /// <summary>EnvClear() was called.</summary>
        public bool EnvCleared { get; private set; }
        /// <summary>stdin bytes when stdin is bytes (Stdin(byte[]) or Stdin(string)), else null.</summary>
        public byte[] StdinBytes { get; private set; }
        /// <summary>Exit codes that count as success.</summary>
        public IReadOnlyList<int> SuccessCodes { get { lock (argv) return (int[])okCodes.Clone(); } }

        void SetStdin(Stream source, bool piped, byte[] bytes)
        {
            lock (StdioLock) { stdinSource = source; stdinPiped = piped; StdinBytes = bytes; }
        }

        void SetOutput(StdStream s, Stream sink, bool redirect)
        {
            lock (StdioLock)
            {
                if (s == StdStream.Stdout) { stdoutSink = sink; redirectOut = redirect; }
                else { stderrSink = sink; redirectErr = redirect; }
            }
        }

        /// <summary>stdin: copied from <paramref name="source"/> (on a thread
        /// of its own, through a pipe) until its end, then end of file. Read
        /// once: a second run of the command reads what is left.</summary>
        public Command Stdin(Stream source)
        {
            if (source == null) throw new ArgumentNullException("source");
            SetStdin(source, false, null);
            return this;
        }

        /// <summary>stdin: a pipe the RunningProcess writes (StandardInput,
        /// Write, CloseStdin); like ProcessStartInfo.RedirectStandardInput.</summary>
        public Command RedirectStandardInput()
        {
            Do(p => Native.pk_command_stdin_pipe(p));
            SetStdin(null, true, null);
            return this;
        }

        /// <summary>stdout copied into <paramref name="sink"/> as it comes (not captured).</summary>
        public Command Stdout(Stream sink)
        {
            if (sink == null) throw new ArgumentNullException("sink");
            SetOutput(StdStream.Stdout, sink, false);
            return this;
        }

        /// <summary>stderr copied into <paramref name="sink"/> as it comes (not captured).</summary>
        public Command Stderr(Stream sink)
        {
            if (sink == null) throw new ArgumentNullException("sink");
            SetOutput(StdStream.Stderr, sink, false);
            return this;
        }

        /// <summary>stdout as RunningProcess.StandardOutput, a Stream to read
        /// (not captured, no lines); like ProcessStartInfo.RedirectStandardOutput.</summary>
        public Command RedirectStandardOutput() { SetOutput(StdStream.Stdout, null, true); return this; }
        /// <summary>stderr as RunningProcess.StandardError, a Stream to read.</summary>
        public Command RedirectStandardError() { SetOutput(StdStream.Stderr, null, true); return this; }

        internal bool HasStdioPlan
        {
            get { lock (StdioLock) return stdinSource != null || stdoutSink != null || stderrSink != null || redirectOut || redirectErr; }
        }

        internal bool StdinPiped { get { lock (StdioLock) return stdinPiped; } }

        /// <summary>Under StdioLock: pipes for this start, their fds set on the command; null without Stream stdio.</summary>
        internal StdioSession Prepare()
        {
            if (!HasStdioPlan)
                return null;
            var s = new StdioSession();
            try
            {
                if (stdinSource != null)
                {
                    int fd = s.PipeFrom(stdinSource);
                    Do(p => Native.pk_command_stdin_fd(p, fd));
                }
                if (stdoutSink != null || redirectOut)
                {
                    int fd = stdoutSink != null ? s.PipeTo(stdoutSink) : s.Reader(StdStream.Stdout);
                    Do(p => Native.pk_command_output(p, (int)StdStream.Stdout, (int)OutputMode.Fd, fd));
                }
                if (stderrSink != null || redirectErr)
                {
                    int fd = stderrSink != null ? s.PipeTo(stderrSink) : s.Reader(StdStream.Stderr);
                    Do(p => Native.pk_command_output(p, (int)StdStream.Stderr, (int)OutputMode.Fd, fd));
                }
                return s;
            }
            catch
            {
                s.Abort();
                throw;
            }
        }

        /// <summary>Run on a loop of this call's own, so a CancellationToken
        /// can end it (pk_process_cancel) and Stream stdio is set up per start.</summary>
        RunResult RunOnPrivateLoop(CancellationToken ct)
        {
            IntPtr lp;
            Library.Check(Native.pk_loop_new(out lp));
            var loop = new LoopHandle();
            loop.Adopt(lp);
            StdioSession session = null;
            RunResult result;
            try
            {
                using (loop)
                {
                    IntPtr proc;
                    lock (StdioLock)
                    {
                        session = Prepare();
                        int rc;
                        using (var u = handle.Borrow())
                            rc = Native.pk_loop_start(lp, u.Ptr, IntPtr.Zero, out proc);
                        if (rc < 0)
                            throw ProcessKitException.Create(rc, Library.LastError(), null);
                        if (session != null)
                            session.AfterStart();
                    }
                    var ph = new ProcessHandle();
                    ph.Adopt(proc);
                    using (ph)
                    {
                        using (ct.Register(() => { using (var u = ph.Borrow()) Native.pk_process_cancel(u.Ptr); }))
                            Library.Check(Native.pk_loop_wait_all(lp, new[] { proc }, (UIntPtr)1, -1));
                        IntPtr r;
                        Library.Check(Native.pk_process_result(proc, out r));
                        result = RunResult.Take(r);
                    }
                }
                GC.KeepAlive(callbacks);
                if (session != null)
                {
                    var s = session;
                    session = null;
                    s.Finish();
                }
            }
            finally
            {
                if (session != null)
                    session.Abort();
            }
            var err = TakeCallbackError();
            if (err != null)
                ExceptionDispatchInfo.Capture(err).Throw();
            if (ct.IsCancellationRequested && result.Outcome == Outcome.Cancelled)
                throw new RunCancelledException(result, ct);
            return result;
        }

        /// <summary>Start on the shared loop and return at once with a handle
        /// to the running process (System.Diagnostics.Process.Start's shape).
        /// Cancelling the token kills the run's tree.</summary>
        public RunningProcess Start(Group group = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            return Loop.Shared.Start(this, group, cancellationToken);
        }

        public RunningProcess Start(Loop loop, Group group = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            return (loop ?? Loop.Shared).Start(this, group, cancellationToken);
        }

        /// <summary>Runs the call with a pk_cancel the token triggers in the
        /// command's token's place (restored after; a CancelOn token still
        /// cancels, through Link). Under StdioLock, so one such call at a time.</summary>
        T WithCancel<T>(CancellationToken ct, Func<T> call)
        {
            if (!ct.CanBeCanceled)
                return call();
            using (var temp = new CancelToken())
            {
                Action trigger = () => { try { temp.Trigger(); } catch (ProcessKitException) { } };
                var mine = userToken;
                if (mine != null) mine.Link(trigger);
                try
                {
                    using (var t = temp.Handle.Borrow())
                    {
                        var tp = t.Ptr;
                        Do(p => Native.pk_command_cancel_on(p, tp));
                    }
                    using (ct.Register(trigger))
                        return call();
                }
                finally
                {
                    if (mine != null) mine.Unlink(trigger);
                    using (var t = mine == null ? default(PkHandle.Use) : mine.Handle.Borrow())
                    {
                        var tp = t.Ptr;
                        using (var u = handle.Borrow())
                            Native.pk_command_cancel_on(u.Ptr, tp);
                    }
                }
            }
        }

        /// <summary>Run until it succeeds, <paramref name="shouldRetry"/>
        /// (result, attempt from 1; null: retry any failure) says stop, or the
        /// attempts run out; the last attempt's result. A stdin that cannot be
        /// replayed (a Stream, a pipe) is refused with InvalidArgumentException.</summary>
        public RunResult RunRetry(RetryOptions options = null, Func<RunResult, int, bool> shouldRetry = null,
                                  CancellationToken cancellationToken = default(CancellationToken))
        {
            var o = (options ?? new RetryOptions()).ToNative();
            Exception cbError = null;
            Native.RetryFn fn = null;
            if (shouldRetry != null)
                fn = (user, res, attempt) =>
                {
                    try { return shouldRetry(RunResult.Read(res), (int)attempt) ? 1 : 0; }
                    catch (Exception e) { cbError = cbError ?? e; return 0; }
                };
            RunResult result;
            lock (StdioLock)
            {
                var session = Prepare();
                try
                {
                    result = WithCancel(cancellationToken, () =>
                    {
                        IntPtr r;
                        int rc;
                        using (var u = handle.Borrow())
                            rc = Native.pk_command_run_retry(u.Ptr, ref o, fn, IntPtr.Zero, out r);
                        Library.Check(rc);
                        return RunResult.Take(r);
                    });
                    if (session != null) { session.AfterStart(); session.Finish(); session = null; }
                }
                finally
                {
                    if (session != null) session.Abort();
                }
            }
            GC.KeepAlive(fn);
            GC.KeepAlive(callbacks);
            var err = cbError ?? TakeCallbackError();
            if (err != null)
                ExceptionDispatchInfo.Capture(err).Throw();
            if (cancellationToken.IsCancellationRequested && result.Outcome == Outcome.Cancelled)
                throw new RunCancelledException(result, cancellationToken);
            return result;
        }

        /// <summary>Keep the command running by <paramref name="options"/>'
        /// restart policy until the policy is satisfied, <paramref name="stopWhen"/>
        /// says so after a run, or the token is cancelled (which also stops
        /// the current run: its timeout signal, then SIGKILL after 2 s).
        /// Blocking; <paramref name="onEvent"/> sees every lifecycle event.</summary>
        public SuperviseReport Supervise(SuperviseOptions options = null, Action<SupervisorEvent> onEvent = null,
                                         Func<RunResult, bool> stopWhen = null,
                                         CancellationToken cancellationToken = default(CancellationToken))
        {
            var o = (options ?? new SuperviseOptions()).ToNative();
            var rep = new Native.pk_supervise_report();
            rep.size = (uint)Marshal.SizeOf(typeof(Native.pk_supervise_report));
            Exception cbError = null;
            Native.SuperviseFn evFn = null;
            Native.StopWhenFn stopFn = null;
            if (onEvent != null)
                evFn = (user, ev, restarts, delay, res) =>
                {
                    try
                    {
                        onEvent(new SupervisorEvent((SuperviseEvent)ev, restarts, TimeSpan.FromMilliseconds(delay),
                                                    res == IntPtr.Zero ? null : RunResult.Read(res)));
                    }
                    catch (Exception e) { cbError = cbError ?? e; }
                };
            if (stopWhen != null)
                stopFn = (user, res) =>
                {
                    try { return stopWhen(res == IntPtr.Zero ? null : RunResult.Read(res)) ? 1 : 0; }
                    catch (Exception e) { cbError = cbError ?? e; return 1; }
                };
            int rc;
            using (var stop = cancellationToken.CanBeCanceled ? new CancelToken() : null)
            using (cancellationToken.Register(() => { try { stop.Trigger(); } catch (ProcessKitException) { } }))
            using (var s = stop == null ? default(PkHandle.Use) : stop.Handle.Borrow())
            lock (StdioLock)
            {
                var session = Prepare();
                try
                {
                    using (var u = handle.Borrow())
                        rc = Native.pk_supervise(u.Ptr, ref o, evFn, stopFn, IntPtr.Zero, s.Ptr, ref rep);
                    if (rc < 0)
                        throw ProcessKitException.Create(rc, Library.LastError(), null);
                    if (session != null) { session.AfterStart(); session.Finish(); session = null; }
                }
                finally
                {
                    if (session != null) session.Abort();
                }
            }
            GC.KeepAlive(evFn);
            GC.KeepAlive(stopFn);
            GC.KeepAlive(callbacks);
            var err = cbError ?? TakeCallbackError();
            if (err != null)
                ExceptionDispatchInfo.Capture(err).Throw();
            return new SuperviseReport
            {
                Runs = (int)rep.runs,
                Restarts = (int)rep.restarts,
                StormPauses = (int)rep.storm_pauses,
                StopReason = (SuperviseEvent)rep.stop_reason,
            };
        }

        /// <summary>Run as this user and group, with these supplementary groups
        /// (none: all dropped); set in the child: setgroups, setgid, setuid.</summary>
        public Command User(uint uid, uint gid, params uint[] groups)
        {
            groups = groups ?? new uint[0];
            return Do(p => Native.pk_command_user(p, uid, gid, groups.Length == 0 ? null : groups, (UIntPtr)groups.Length));
        }

        /// <summary>The child's umask (e.g. Convert.ToUInt32("027", 8)).</summary>
        public Command Umask(uint mask) { return Do(p => Native.pk_command_umask(p, mask)); }

        /// <summary>A resource limit in the child (setrlimit). Repeatable; ulong.MaxValue is unlimited.</summary>
        public Command ResourceLimit(Resource resource, ulong soft, ulong hard)
        {
            return Do(p => Native.pk_command_rlimit(p, (int)resource, soft, hard));
        }

        /// <summary>Make <paramref name="parent"/> (an open file or pipe) the
        /// child's fd <paramref name="childFd"/> (3 or more). Repeatable. The
        /// handle must stay open until the run has started.</summary>
        public Command MapFd(int childFd, SafeHandle parent)
        {
            int fd = FdOf(parent);
            return Do(p => Native.pk_command_map_fd(p, childFd, fd));
        }

        /// <summary>Run on a new pseudo-terminal of rows x cols (the child's
        /// controlling terminal and stdio); its output arrives as stdout,
        /// RunningProcess.Write types into it, Resize resizes it.</summary>
        public Command Pty(ushort rows = 24, ushort cols = 80) { return Do(p => Native.pk_command_pty(p, rows, cols)); }
    }

    /// <summary>How Command.RunRetry retries (pk_retry_options).</summary>
    public sealed class RetryOptions
    {
        /// <summary>Runs at most, the first included.</summary>
        public int MaxAttempts = 3;
        public TimeSpan InitialDelay = TimeSpan.FromMilliseconds(100);
        public TimeSpan MaxDelay = TimeSpan.FromSeconds(30);
        public double Multiplier = 2.0;
        /// <summary>Each delay uniformly random in [0, delay].</summary>
        public bool Jitter = true;

        internal Native.pk_retry_options ToNative()
        {
            return new Native.pk_retry_options
            {
                size = (uint)Marshal.SizeOf(typeof(Native.pk_retry_options)),
                max_attempts = (uint)MaxAttempts,
                initial_delay_ms = (uint)InitialDelay.TotalMilliseconds,
                max_delay_ms = (uint)MaxDelay.TotalMilliseconds,
                multiplier = Multiplier,
                jitter = Jitter ? 1 : 0,
            };
        }
    }

    /// <summary>How Command.Supervise keeps a command running (pk_supervise_options).</summary>
    public sealed class SuperviseOptions
    {
        public Restart Restart = Restart.OnFailure;
        /// <summary>0 = unlimited.</summary>
        public int MaxRestarts;
        public TimeSpan BackoffInitial = TimeSpan.FromMilliseconds(200);
        public TimeSpan BackoffMax = TimeSpan.FromSeconds(30);
        public double BackoffMultiplier = 2.0;
        public bool Jitter = true;
        /// <summary>Storm guard: this many restarts within StormWindow trip it (0 = off).</summary>
        public int StormRestarts;
        public TimeSpan StormWindow;
        public StormAction StormAction = StormAction.GiveUp;
        public TimeSpan StormPause;

        internal Native.pk_supervise_options ToNative()
        {
            return new Native.pk_supervise_options
            {
                size = (uint)Marshal.SizeOf(typeof(Native.pk_supervise_options)),
                restart = (int)Restart,
                max_restarts = (uint)MaxRestarts,
                backoff_initial_ms = (uint)BackoffInitial.TotalMilliseconds,
                backoff_max_ms = (uint)BackoffMax.TotalMilliseconds,
                jitter = Jitter ? 1 : 0,
                backoff_multiplier = BackoffMultiplier,
                storm_restarts = (uint)StormRestarts,
                storm_window_ms = (uint)StormWindow.TotalMilliseconds,
                storm_action = (int)StormAction,
                storm_pause_ms = (uint)StormPause.TotalMilliseconds,
            };
        }
    }

    /// <summary>A lifecycle event of a supervised command.</summary>
    public sealed class SupervisorEvent
    {
        public SuperviseEvent Kind { get; private set; }
        public int Restarts { get; private set; }
        /// <summary>Restarting: when.</summary>
        public TimeSpan Delay { get; private set; }
        /// <summary>Exited: the run's result; else null.</summary>
        public RunResult Result { get; private set; }
        internal SupervisorEvent(SuperviseEvent k, uint restarts, TimeSpan delay, RunResult r)
        { Kind = k; Restarts = (int)restarts; Delay = delay; Result = r; }
        public override string ToString() { return Kind.SnakeName() + " (restarts " + Restarts + ")"; }
    }

    /// <summary>What Command.Supervise did.</summary>
    public sealed class SuperviseReport
    {
        public int Runs, Restarts, StormPauses;
        /// <summary>Stopped, GaveUp, or Exited when the policy was satisfied.</summary>
        public SuperviseEvent StopReason;
    }

    public sealed partial class RunResult
    {
        /// <summary>Pipelines: every stage's outcome (no output), else null.</summary>
        public IReadOnlyList<RunResult> Stages { get; private set; }
        /// <summary>Pipelines: the stage the outcome is attributed to (pipefail), or -1.</summary>
        public int FailedStage { get; private set; }

        /// <summary>A result no process produced (the test doubles'), with
        /// the check the library would make: success is an exit code in
        /// <paramref name="successCodes"/> (default: just 0).</summary>
        public static RunResult Synthetic(IReadOnlyList<string> argv, Outcome outcome, int exitCode, Signal signal,
                                          byte[] stdout, byte[] stderr, TimeSpan duration, IReadOnlyList<int> successCodes = null)
        {
            var codes = successCodes ?? new[] { 0 };
            bool ok = outcome == Outcome.Exited && Contains(codes, exitCode);
            var r = new RunResult
            {
                Outcome = outcome,
                ExitCode = outcome == Outcome.Exited ? exitCode : -1,
                Signal = signal,
                Success = ok,
                Stdout = stdout ?? new byte[0],
                Stderr = stderr ?? new byte[0],
                Duration = duration,
                StdoutBytesWritten = (ulong)(stdout ?? new byte[0]).Length,
                StderrBytesWritten = (ulong)(stderr ?? new byte[0]).Length,
                FailedStage = -1,
                CheckMessage = "",
            };
            string prog = argv != null && argv.Count > 0 ? argv[0] : "?";
            var err = r.StderrText.TrimEnd('\n');
            var last = err.Length == 0 ? "" : ": " + err.Substring(err.LastIndexOf('\n') + 1);
            switch (outcome)
            {
                case Outcome.Exited:
                    if (!ok) { r.CheckCode = ErrorCode.Failed; r.CheckMessage = prog + ": exited with status " + exitCode + last; }
                    break;
                case Outcome.Signalled: r.CheckCode = ErrorCode.Failed; r.CheckMessage = prog + ": killed by " + signal.SignalName() + last; break;
                case Outcome.TimedOut: r.CheckCode = ErrorCode.Timeout; r.CheckMessage = prog + ": timed out" + last; break;
                case Outcome.Cancelled: r.CheckCode = ErrorCode.Cancelled; r.CheckMessage = prog + ": cancelled"; break;
                default: r.CheckCode = ErrorCode.NoProcess; r.CheckMessage = prog + ": exit status lost"; break;
            }
            return r;
        }

        static bool Contains(IReadOnlyList<int> codes, int c)
        {
            foreach (var x in codes) if (x == c) return true;
            return false;
        }
    }

    // -------------------------------------------------------------- readiness

    /// <summary>The outcome of a readiness probe, as data (pk_readiness_info).</summary>
    public sealed class ReadinessInfo
    {
        public ReadyKind Kind { get; private set; }
        public ReadyOutcome Outcome { get; private set; }
        /// <summary>The condition held in time.</summary>
        public bool Ready { get { return Outcome == ReadyOutcome.Met; } }
        /// <summary>Line probes: the stream watched (null: either).</summary>
        public StdStream? Stream { get; private set; }
        public int Port { get; private set; }
        public int LinesSeen { get; private set; }
        public TimeSpan Waited { get; private set; }
        /// <summary>Line probes: the last line looked at (cut to 159 bytes).</summary>
        public string LastLine { get; private set; }

        internal unsafe ReadinessInfo(ref Native.pk_readiness_info i)
        {
            Kind = (ReadyKind)i.kind;
            Outcome = (ReadyOutcome)i.outcome;
            Stream = i.stream == 0 ? (StdStream?)null : (StdStream)i.stream;
            Port = (int)i.port;
            LinesSeen = (int)i.lines_seen;
            Waited = TimeSpan.FromTicks((long)i.waited_us * 10);
            fixed (byte* l = i.last_line) LastLine = Native.FixedToString(l, 160);
        }

        public override string ToString() { return Kind.SnakeName() + ": " + Outcome.SnakeName() + (LastLine.Length > 0 ? " (last line '" + LastLine + "')" : ""); }
    }

    // ------------------------------------------------------- running processes

    public sealed partial class Loop
    {
        /// <summary>Start <paramref name="command"/> on this loop and return
        /// once it runs (start errors throw here). Not from a line callback.</summary>
        public RunningProcess Start(Command command, Group group = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (OnDriver)
                throw new InvalidOperationException("Loop.Start waits for the loop's own thread: not from a line callback");
            var p = Enqueue(command, group, cancellationToken, true);
            try
            {
                p.Started.Task.Wait();
            }
            catch (AggregateException ae)
            {
                if (ae.InnerException is TaskCanceledException)
                    throw new OperationCanceledException(cancellationToken);
                ExceptionDispatchInfo.Capture(ae.InnerException).Throw();
            }
            return new RunningProcess(this, p);
        }

        /// <summary>An fd that polls readable when the loop has work
        /// (pk_loop_fd), for a caller's own poller. The loop's thread drives it regardless.</summary>
        public int PollFd
        {
            get
            {
                int fd;
                using (var u = handle.Borrow())
                    Library.Check(Native.pk_loop_fd(u.Ptr, out fd));
                return fd;
            }
        }

        /// <summary>Runs a loop-driving wait on the loop's thread; a wake the
        /// token did not ask for (another run queued) just waits again.</summary>
        internal int DrivenWait(Func<int, int> call, TimeSpan timeout, CancellationToken ct)
        {
            ct.ThrowIfCancellationRequested();
            return Invoke(() =>
            {
                var sw = Stopwatch.StartNew();
                using (ct.Register(Wake))
                {
                    while (true)
                    {
                        int ms = timeout < TimeSpan.Zero ? -1
                            : (int)Math.Max(0, Math.Min(int.MaxValue, (timeout - sw.Elapsed).TotalMilliseconds));
                        int rc = call(ms);
                        if (rc == (int)ErrorCode.Cancelled)
                        {
                            if (ct.IsCancellationRequested)
                                throw new OperationCanceledException(ct);
                            continue;
                        }
                        if (rc < 0 && rc != (int)ErrorCode.NotReady && rc != (int)ErrorCode.Timeout)
                            Library.Check(rc);
                        return rc;
                    }
                }
            });
        }

        /// <summary>Wait until one of <paramref name="procs"/> (all on this
        /// loop) has finished: its index, or -1 when the timeout passed.</summary>
        public int WaitAny(RunningProcess[] procs, TimeSpan timeout, CancellationToken cancellationToken = default(CancellationToken))
        {
            UIntPtr index = UIntPtr.Zero;
            int rc = DrivenWait(ms =>
            {
                var ptrs = RunningProcess.Ptrs(procs);
                int r = Native.pk_loop_wait_any(handle.DangerousGetHandle(), ptrs, (UIntPtr)ptrs.Length, ms, out index);
                GC.KeepAlive(procs);
                return r;
            }, timeout, cancellationToken);
            return rc == (int)ErrorCode.Timeout ? -1 : (int)index;
        }

        /// <summary>Wait until all of <paramref name="procs"/> have finished; false when the timeout passed.</summary>
        public bool WaitAll(RunningProcess[] procs, TimeSpan timeout, CancellationToken cancellationToken = default(CancellationToken))
        {
            int rc = DrivenWait(ms =>
            {
                var ptrs = RunningProcess.Ptrs(procs);
                int r = Native.pk_loop_wait_all(handle.DangerousGetHandle(), ptrs, (UIntPtr)ptrs.Length, ms);
                GC.KeepAlive(procs);
                return r;
            }, timeout, cancellationToken);
            return rc != (int)ErrorCode.Timeout;
        }
    }

    /// <summary>A command running (or finished) on a loop (pk_process), like
    /// System.Diagnostics.Process: Pid, StandardInput/Output/Error, Signal,
    /// Wait/WaitAsync, plus readiness probes. Disposing it cancels a run still going.</summary>
    public sealed class RunningProcess : IDisposable
    {
        readonly Loop loop;
        readonly Loop.Pending pending;
        readonly ProcessHandle handle;

        internal RunningProcess(Loop loop, Loop.Pending p)
        {
            this.loop = loop;
            pending = p;
            handle = p.KeptProcess;
            int pid;
            using (var u = handle.Borrow())
                Library.Check(Native.pk_process_pid(u.Ptr, out pid));
            Pid = pid;
            if (p.Command.StdinPiped)
                StandardInput = new StdinStream(this);
            if (p.Session != null)
            {
                StandardOutput = p.Session.StdoutReader;
                StandardError = p.Session.StderrReader;
            }
        }

        public ProcessHandle Handle { get { return handle; } }
        public int Pid { get; private set; }
        /// <summary>After Command.RedirectStandardInput: a Stream whose
        /// writes reach the child (queued, written as it reads); Dispose() closes it. Else null.</summary>
        public Stream StandardInput { get; private set; }
        /// <summary>After Command.RedirectStandardOutput: the child's stdout to read. Else null (captured).</summary>
        public Stream StandardOutput { get; private set; }
        /// <summary>After Command.RedirectStandardError: the child's stderr to read. Else null (captured).</summary>
        public Stream StandardError { get; private set; }

        internal static IntPtr[] Ptrs(RunningProcess[] procs)
        {
            var ptrs = new IntPtr[procs.Length];
            for (int i = 0; i < procs.Length; i++)
                ptrs[i] = procs[i].handle.DangerousGetHandle();
            return ptrs;
        }

        void Call(Func<IntPtr, int> f)
        {
            using (var u = handle.Borrow())
                Library.Check(f(u.Ptr));
        }

        public bool HasExited
        {
            get
            {
                int done = 0;
                Call(p => Native.pk_process_done(p, out done));
                return done != 0;
            }
        }

        /// <summary>Signal the run's tree (its private group), or the process alone in a shared group.</summary>
        public void Signal(Signal sig) { Call(p => Native.pk_process_signal(p, (int)sig)); }
        /// <summary>Kill the tree; the run ends as Outcome.Cancelled.</summary>
        public void Cancel() { Call(p => Native.pk_process_cancel(p)); }
        /// <summary>Queue bytes for a RedirectStandardInput (or PTY) stdin.</summary>
        public void Write(byte[] data) { Write(data, 0, data.Length); }
        public void Write(string text) { Write(Encoding.UTF8.GetBytes(text)); }
        public void Write(byte[] data, int offset, int count)
        {
            var chunk = new byte[count];
            Buffer.BlockCopy(data, offset, chunk, 0, count);
            Call(p => Native.pk_process_write(p, chunk, (UIntPtr)count));
        }
        /// <summary>Close the stdin pipe once the queued bytes are written.</summary>
        public void CloseStdin() { Call(p => Native.pk_process_close_stdin(p)); }
        /// <summary>Resize a PTY run's terminal (the child gets SIGWINCH).</summary>
        public void Resize(ushort rows, ushort cols) { Call(p => Native.pk_process_resize(p, rows, cols)); }

        /// <summary>The last readiness probe's outcome (Kind None before any).</summary>
        public ReadinessInfo Readiness
        {
            get
            {
                var i = new Native.pk_readiness_info();
                i.size = (uint)Marshal.SizeOf(typeof(Native.pk_readiness_info));
                Call(p => Native.pk_process_readiness(p, ref i));
                return new ReadinessInfo(ref i);
            }
        }

        ReadinessInfo Probe(Func<IntPtr, int, int> call, TimeSpan timeout, CancellationToken ct)
        {
            loop.DrivenWait(ms => { using (var u = handle.Borrow()) return call(u.Ptr, ms); }, timeout, ct);
            return Readiness;
        }

        /// <summary>Wait until a line of <paramref name="stream"/> (null: either)
        /// contains <paramref name="pattern"/> (or, with regex, matches it as a
        /// POSIX extended regular expression). Lines seen before count too.
        /// Never kills the process; ReadinessInfo.Ready says whether it was met.</summary>
        public ReadinessInfo WaitForLine(string pattern, TimeSpan timeout, bool regex = false, StdStream? stream = null,
                                         CancellationToken cancellationToken = default(CancellationToken))
        {
            int s = stream.HasValue ? (int)stream.Value : 0;
            uint f = regex ? (uint)MatchFlag.Regex : (uint)MatchFlag.Substring;
            return Probe((p, ms) => Native.pk_process_wait_for_line(p, s, pattern, f, ms), timeout, cancellationToken);
        }

        /// <summary>Wait until a TCP connection to 127.0.0.1:port succeeds.</summary>
        public ReadinessInfo WaitForPort(int port, TimeSpan timeout, CancellationToken cancellationToken = default(CancellationToken))
        {
            return Probe((p, ms) => Native.pk_process_wait_for_port(p, (ushort)port, ms), timeout, cancellationToken);
        }

        /// <summary>Wait until <paramref name="ready"/> returns true, asked every <paramref name="interval"/>
        /// (on the loop's thread). An exception it throws ends the wait and is rethrown.</summary>
        public ReadinessInfo WaitFor(Func<bool> ready, TimeSpan interval, TimeSpan timeout,
                                     CancellationToken cancellationToken = default(CancellationToken))
        {
            Exception err = null;
            Native.ReadyFn fn = user =>
            {
                try { return ready() ? 1 : 0; }
                catch (Exception e) { err = e; return 1; }
            };
            var info = Probe((p, ms) => Native.pk_process_wait_for(p, fn, IntPtr.Zero, (uint)Math.Max(1, interval.TotalMilliseconds), ms),
                             timeout, cancellationToken);
            GC.KeepAlive(fn);
            if (err != null)
                ExceptionDispatchInfo.Capture(err).Throw();
            return info;
        }

        public Task<ReadinessInfo> WaitForLineAsync(string pattern, TimeSpan timeout, bool regex = false, StdStream? stream = null,
                                                    CancellationToken cancellationToken = default(CancellationToken))
        {
            return Task.Factory.StartNew(() => WaitForLine(pattern, timeout, regex, stream, cancellationToken),
                                         cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }

        public Task<ReadinessInfo> WaitForPortAsync(int port, TimeSpan timeout, CancellationToken cancellationToken = default(CancellationToken))
        {
            return Task.Factory.StartNew(() => WaitForPort(port, timeout, cancellationToken),
                                         cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }

        /// <summary>Wait for the end and return the result (a non-zero exit is
        /// data). The token cancels this wait, not the run (Process.WaitForExit's way).</summary>
        public RunResult Wait(CancellationToken cancellationToken = default(CancellationToken))
        {
            var t = pending.Completion.Task;
            try
            {
                t.Wait(cancellationToken);
                return t.Result;
            }
            catch (AggregateException ae)
            {
                ExceptionDispatchInfo.Capture(ae.InnerException).Throw();
                throw;
            }
        }

        /// <summary>The result once the run has ended; the token cancels the wait, not the run.</summary>
        public Task<RunResult> WaitAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            var t = pending.Completion.Task;
            if (!cancellationToken.CanBeCanceled)
                return t;
            var tcs = new TaskCompletionSource<RunResult>(TaskCreationOptions.RunContinuationsAsynchronously);
            var reg = cancellationToken.Register(() => tcs.TrySetCanceled(cancellationToken));
            t.ContinueWith(x =>
            {
                reg.Dispose();
                if (x.IsFaulted) tcs.TrySetException(x.Exception.InnerExceptions);
                else if (x.IsCanceled) tcs.TrySetCanceled();
                else tcs.TrySetResult(x.Result);
            }, TaskScheduler.Default);
            return tcs.Task;
        }

        /// <summary>Cancel a run still going, wait for it, release the handle and streams.</summary>
        public void Dispose()
        {
            if (handle.IsClosed)
                return;
            try
            {
                if (!pending.Completion.Task.IsCompleted)
                {
                    Cancel();
                    pending.Completion.Task.Wait(TimeSpan.FromSeconds(30));
                }
            }
            catch (Exception) { }  // ended already, or the loop is gone: free below regardless
            foreach (var s in new[] { StandardInput, StandardOutput, StandardError })
                if (s != null) s.Dispose();
            handle.Dispose();
        }

        sealed class StdinStream : Stream
        {
            readonly RunningProcess owner;
            bool closed;
            public StdinStream(RunningProcess o) { owner = o; }
            public override bool CanRead { get { return false; } }
            public override bool CanSeek { get { return false; } }
            public override bool CanWrite { get { return !closed; } }
            public override long Length { get { throw new NotSupportedException(); } }
            public override long Position { get { throw new NotSupportedException(); } set { throw new NotSupportedException(); } }
            public override void Flush() { }
            public override int Read(byte[] b, int o, int c) { throw new NotSupportedException(); }
            public override long Seek(long o, SeekOrigin s) { throw new NotSupportedException(); }
            public override void SetLength(long v) { throw new NotSupportedException(); }
            public override void Write(byte[] b, int o, int c)
            {
                if (closed) throw new ObjectDisposedException("StandardInput");
                owner.Write(b, o, c);
            }
            protected override void Dispose(bool disposing)
            {
                if (!closed)
                {
                    closed = true;
                    try { owner.CloseStdin(); }
                    catch (ProcessKitException) { }  // the run ended, or its handle is gone
                }
                base.Dispose(disposing);
            }
        }
    }

    // -------------------------------------------------------------- pipelines

    /// <summary>pk_pipeline.</summary>
    public sealed class PipelineHandle : PkHandle
    { protected override bool ReleaseHandle() { return Native.pk_pipeline_free(handle) == 0; } }

    /// <summary>`a | b | c` without a shell, every stage in one private group
    /// (pk_pipeline). The result carries the last stage's output and, by
    /// pipefail, the first failing stage's outcome; Stages has each one's.</summary>
    public sealed class Pipeline : IDisposable
    {
        readonly PipelineHandle handle = new PipelineHandle();
        readonly List<Command> stages = new List<Command>();
        readonly object runLock = new object();
        CancelToken userToken;

        public Pipeline(params Command[] commands)
        {
            Library.Init();
            IntPtr p;
            Library.Check(Native.pk_pipeline_new(out p));
            handle.Adopt(p);
            foreach (var c in commands ?? new Command[0])
                Add(c);
        }

        public PipelineHandle Handle { get { return handle; } }

        Pipeline Do(Func<IntPtr, int> call)
        {
            using (var u = handle.Borrow())
                Library.Check(call(u.Ptr));
            return this;
        }

        /// <summary>Append a stage; <paramref name="unchecked"/>: its failure never fails the pipeline.</summary>
        public Pipeline Add(Command stage, bool @unchecked = false)
        {
            using (var c = stage.Handle.Borrow())
            {
                var cp = c.Ptr;
                Do(p => Native.pk_pipeline_add(p, cp, @unchecked ? (uint)StageFlag.Unchecked : 0u));
            }
            stages.Add(stage);
            return this;
        }

        /// <summary>A producer killed by SIGPIPE counts as failed (by default it does not).</summary>
        public Pipeline SigpipeFails(bool on = true) { return Do(p => Native.pk_pipeline_flags(p, on ? (uint)PipelineFlag.SigpipeFails : 0u)); }

        public Pipeline Timeout(TimeSpan timeout, Signal signal = ProcessKit.Signal.None, TimeSpan? grace = null)
        {
            uint ms = (uint)Math.Max(1, timeout.TotalMilliseconds);
            uint g = (uint)Math.Max(0, (grace ?? TimeSpan.Zero).TotalMilliseconds);
            return Do(p => Native.pk_pipeline_timeout(p, ms, (int)signal, g));
        }

        public Pipeline CancelOn(CancelToken token)
        {
            using (var t = token == null ? default(PkHandle.Use) : token.Handle.Borrow())
            {
                var tp = t.Ptr;
                Do(p => Native.pk_pipeline_cancel_on(p, tp));
            }
            userToken = token;
            return this;
        }

        /// <summary>Run every stage and wait; cancelling the token kills them
        /// all and throws RunCancelledException.</summary>
        public RunResult Run(CancellationToken cancellationToken = default(CancellationToken))
        {
            RunResult result;
            lock (runLock)
            {
                var sessions = new List<StdioSession>();
                var locked = new List<object>();
                try
                {
                    foreach (var s in stages)
                    {
                        Monitor.Enter(s.StdioLock);
                        locked.Add(s.StdioLock);
                        var session = s.Prepare();
                        if (session != null) sessions.Add(session);
                    }
                    result = WithCancel(cancellationToken, () =>
                    {
                        IntPtr r;
                        int rc;
                        using (var u = handle.Borrow())
                            rc = Native.pk_pipeline_run(u.Ptr, out r);
                        Library.Check(rc);
                        return RunResult.Take(r);
                    });
                    foreach (var s in sessions) s.AfterStart();
                    foreach (var s in sessions) s.Finish();
                    sessions.Clear();
                }
                finally
                {
                    foreach (var s in sessions) s.Abort();
                    foreach (var l in locked) Monitor.Exit(l);
                }
            }
            foreach (var s in stages)
            {
                var err = s.TakeCallbackError();
                if (err != null)
                    ExceptionDispatchInfo.Capture(err).Throw();
                GC.KeepAlive(s.CallbackRoots());
            }
            if (cancellationToken.IsCancellationRequested && result.Outcome == Outcome.Cancelled)
                throw new RunCancelledException(result, cancellationToken);
            return result;
        }

        T WithCancel<T>(CancellationToken ct, Func<T> call)
        {
            if (!ct.CanBeCanceled)
                return call();
            using (var temp = new CancelToken())
            {
                Action trigger = () => { try { temp.Trigger(); } catch (ProcessKitException) { } };
                var mine = userToken;
                if (mine != null) mine.Link(trigger);
                try
                {
                    using (var t = temp.Handle.Borrow()) { var tp = t.Ptr; Do(p => Native.pk_pipeline_cancel_on(p, tp)); }
                    using (ct.Register(trigger))
                        return call();
                }
                finally
                {
                    if (mine != null) mine.Unlink(trigger);
                    using (var t = mine == null ? default(PkHandle.Use) : mine.Handle.Borrow())
                    using (var u = handle.Borrow())
                        Native.pk_pipeline_cancel_on(u.Ptr, t.Ptr);
                }
            }
        }

        public RunResult RunChecked(CancellationToken cancellationToken = default(CancellationToken)) { return Run(cancellationToken).Check(); }

        /// <summary>Run on a thread of its own (pk_pipeline_run blocks).</summary>
        public Task<RunResult> RunAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            return Task.Factory.StartNew(() => Run(cancellationToken), CancellationToken.None,
                                         TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }

        public void Dispose() { handle.Dispose(); }
    }
}
