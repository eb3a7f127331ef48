// The C# binding's test runner: every scenario of the shared brief (a-f) and
// a few more. Prints one line per test and ends with "N passed, M failed";
// exits 1 if any failed. Usage: mono Tests.exe [name-substring]
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ProcessKit;

static partial class Tests
{
    static int passed, failed;
    static readonly List<string> tempDirs = new List<string>();

    static int Main(string[] args)
    {
        string filter = args.Length > 0 ? args[0] : null;
        var tests = new List<KeyValuePair<string, Action>>
        {
            T("abi_layouts_match_manifest_and_library", AbiLayouts),
            T("a_group_dispose_kills_child_and_grandchild", GroupDisposeKillsTree),
            T("a_group_finalizer_kills_tree", GroupFinalizerKillsTree),
            T("b_run_captures_output_and_exit_code", RunCaptures),
            T("b_nonzero_exit_is_data_unless_checked", NonZeroExitIsData),
            T("c_timeout_tears_down_tree", TimeoutTearsDownTree),
            T("d_mechanism_cgroup_v2_and_forced_process_group", Mechanisms),
            T("e_empty_program_is_invalid_argument", EmptyProgram),
            T("e_disposed_group_is_invalid_handle", DisposedGroup),
            T("e_missing_program_is_not_found", MissingProgram),
            T("f_async_two_commands_run_concurrently_on_one_loop", AsyncConcurrent),
            T("f_async_shared_loop_and_cancellation", AsyncSharedAndCancel),
            T("f_async_start_error_faults_task", AsyncStartError),
            T("f_async_cancel_ends_the_wait_promptly_and_other_runs_go_on", AsyncCancelWakes),
            T("f_async_idle_loop_holds_no_thread_dispose_wakes_and_joins", AsyncIdleAndDispose),
            T("f_async_dispose_from_a_line_callback", AsyncDisposeFromCallback),
            T("stdin_bytes_and_line_callbacks", StdinAndLines),
            T("child_wait_and_signal", ChildWaitAndSignal),
            T("scenario_file", ScenarioFile),
            T("readme_quickstart", ReadmeQuickstart),
            T("streams_for_stdio", StreamsForStdio),
            T("running_process_handle_and_readiness", RunningProcessHandle),
            T("pipeline_stages_and_cancellation", PipelineStages),
            T("posix_attributes_flags_and_signals", PosixAttributes),
            T("scripted_runner", ScriptedRunnerTest),
            T("record_replay_runner", RecordReplayTest),
            T("leaves_nothing_behind", NothingLeftBehind),
        };
        foreach (var t in tests)
        {
            if (filter != null && !t.Key.Contains(filter))
                continue;
            var sw = Stopwatch.StartNew();
            try
            {
                t.Value();
                passed++;
                Console.WriteLine("ok   {0} ({1} ms)", t.Key, sw.ElapsedMilliseconds);
            }
            catch (Exception e)
            {
                failed++;
                Console.WriteLine("FAIL {0} ({1} ms): {2}", t.Key, sw.ElapsedMilliseconds, e);
            }
        }
        foreach (var d in tempDirs)
            try { Directory.Delete(d, true); } catch (Exception) { }
        Console.WriteLine("{0} passed, {1} failed", passed, failed);
        return failed == 0 ? 0 : 1;
    }

    static KeyValuePair<string, Action> T(string name, Action a) { return new KeyValuePair<string, Action>(name, a); }

    // ------------------------------------------------------------- helpers

    static void Assert(bool cond, string what)
    {
        if (!cond)
            throw new Exception("assertion failed: " + what);
    }

    static void Equal<T>(T expected, T actual, string what)
    {
        if (!EqualityComparer<T>.Default.Equals(expected, actual))
            throw new Exception(string.Format("{0}: expected <{1}>, got <{2}>", what, expected, actual));
    }

    static TEx Throws<TEx>(Action a, string what) where TEx : Exception
    {
        try
        {
            a();
        }
        catch (TEx e)
        {
            return e;
        }
        catch (Exception e)
        {
            throw new Exception(what + ": expected " + typeof(TEx).Name + ", got " + e.GetType().Name + ": " + e.Message);
        }
        throw new Exception(what + ": expected " + typeof(TEx).Name + ", nothing was thrown");
    }

    static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "pk-cs-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        tempDirs.Add(d);
        return d;
    }

    static bool WaitUntil(Func<bool> cond, double seconds)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            if (cond())
                return true;
            Thread.Sleep(10);
        }
        return cond();
    }

    /// <summary>Fields of /proc/PID/stat after the command name: [0] is field
    /// 3 (state), [19] is field 22 (start time). Null if there is no such process.</summary>
    static string[] Stat(int pid)
    {
        string text;
        try { text = File.ReadAllText("/proc/" + pid + "/stat"); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
        int close = text.LastIndexOf(')');
        return text.Substring(close + 2).Split(' ');
    }

    static string StartTime(int pid)
    {
        var f = Stat(pid);
        Assert(f != null, "process " + pid + " is alive");
        return f[19];
    }

    /// <summary>Dead: gone, a zombie, or the pid now belongs to another process.</summary>
    static bool IsDead(int pid, string startTime)
    {
        var f = Stat(pid);
        return f == null || f[0] == "Z" || f[19] != startTime;
    }

    static void AssertDies(int pid, string start, string what)
    {
        Assert(WaitUntil(() => IsDead(pid, start), 10), what + " (pid " + pid + ") is dead");
    }

    static int ReadPidFile(string path)
    {
        int pid = 0;
        Assert(WaitUntil(() =>
        {
            try { return int.TryParse(File.ReadAllText(path).Trim(), out pid) && pid > 0; }
            catch (IOException) { return false; }
        }, 10), "pid file " + path + " written");
        return pid;
    }

    static readonly List<string> cgroupDirs = new List<string>();

    static void NoteCgroup(Containment c)
    {
        if (!string.IsNullOrEmpty(c.CgroupPath))
            cgroupDirs.Add(c.CgroupPath);
    }

    // --------------------------------------------------------------- tests

    static void AbiLayouts()
    {
        var bad = Library.CheckAbi();
        Assert(bad.Count == 0, "layouts agree: " + string.Join("; ", bad));
        Equal(Native.ManifestVersion, Library.Version, "library version");
        Equal((uint)Native.PK_VERSION_NUMBER, Library.VersionNumber, "packed version");
        Equal("invalid argument", Library.StrError(ErrorCode.Invalid), "strerror");
        // sizeof() of every struct as the real header declares it, when
        // run_tests.sh could compile its probe.
        var sizesFile = Environment.GetEnvironmentVariable("PK_CS_HEADER_SIZES");
        if (!string.IsNullOrEmpty(sizesFile))
        {
            int seen = 0;
            foreach (var line in File.ReadAllLines(sizesFile))
            {
                var parts = line.Split(' ');
                var layout = Native.Layouts.FirstOrDefault(l => l.Name == parts[0]);
                Assert(layout != null, "header struct " + parts[0] + " is in the binding");
                Equal(int.Parse(parts[1]), System.Runtime.InteropServices.Marshal.SizeOf(layout.Type), "sizeof(" + parts[0] + ")");
                seen++;
            }
            Equal(Native.Layouts.Length, seen, "structs in the header");
        }
    }

    static void GroupDisposeKillsTree()
    {
        var dir = TempDir();
        var pidFile = Path.Combine(dir, "grandchild.pid");
        var g = new Group();
        var c = g.Containment;
        NoteCgroup(c);
        using (var child = g.Spawn("sh", "-c", "sleep 30 & echo $! > '" + pidFile + "'; wait"))
        {
            int childPid = child.Pid;
            int grandPid = ReadPidFile(pidFile);
            string childStart = StartTime(childPid), grandStart = StartTime(grandPid);
            Assert(!IsDead(childPid, childStart) && !IsDead(grandPid, grandStart), "both alive before dispose");
            Assert(g.Members().Contains(grandPid) || c.Mechanism != Mechanism.CgroupV2, "grandchild is a member");
            g.Dispose();
            Assert(g.IsDisposed, "disposed");
            AssertDies(childPid, childStart, "child");
            AssertDies(grandPid, grandStart, "grandchild");
            g.Dispose();  // idempotent
        }
        if (c.CgroupPath.Length > 0)
            Assert(!Directory.Exists(c.CgroupPath), "cgroup leaf " + c.CgroupPath + " removed");
    }

    static void SpawnAbandoned(string pidFile, out int childPid, out string childStart)
    {
        // No using, no Dispose: only the SafeHandle's finalizer frees the group.
        var g = new Group();
        NoteCgroup(g.Containment);
        var child = g.Spawn("sh", "-c", "sleep 30 & echo $! > '" + pidFile + "'; wait");
        childPid = child.Pid;
        childStart = StartTime(childPid);
    }

    static void GroupFinalizerKillsTree()
    {
        var dir = TempDir();
        var pidFile = Path.Combine(dir, "grandchild.pid");
        int childPid = 0;
        string childStart = null;
        // On a thread of its own, so no stale reference stays on this stack
        // (Mono's GC scans stacks conservatively).
        var t = new Thread(() => SpawnAbandoned(pidFile, out childPid, out childStart));
        t.Start();
        t.Join();
        int grandPid = ReadPidFile(pidFile);
        string grandStart = StartTime(grandPid);
        Assert(WaitUntil(() =>
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            return IsDead(childPid, childStart) && IsDead(grandPid, grandStart);
        }, 10), "finalizer killed child and grandchild");
    }

    static void RunCaptures()
    {
        var r = new Command("sh", "-c", "printf 'out\\n'; printf 'err\\n' >&2; exit 3").Run();
        Equal(Outcome.Exited, r.Outcome, "outcome");
        Equal(3, r.ExitCode, "exit code");
        Equal("out\n", r.StdoutText, "stdout");
        Equal("err\n", r.StderrText, "stderr");
        Equal(4, r.Stdout.Length, "stdout bytes");
        Assert(!r.Success, "not a success");
        Assert(r.Pid > 0, "pid");
        var ok = new Command("echo", "hello", "wörld").RunChecked();
        Equal("hello wörld\n", ok.StdoutText, "utf-8 round trip");
        Assert(ok.Success && ok.CheckCode == ErrorCode.Ok, "success");
    }

    static void NonZeroExitIsData()
    {
        var cmd = new Command("sh", "-c", "echo oops >&2; exit 3");
        var r = cmd.Run();  // no exception
        Equal(3, r.ExitCode, "exit code");
        var e = Throws<CommandFailedException>(() => r.Check(), "Check()");
        Equal(ErrorCode.Failed, e.Code, "code");
        Assert(e.LibraryMessage.Length > 0 && e.Message == e.LibraryMessage, "carries the library's message: " + e.Message);
        Assert(e.Message.Contains("sh") && e.Message.Contains("3") && e.Message.Contains("oops"), "message names program, status, stderr: " + e.Message);
        Equal(3, e.Result.ExitCode, "result on the exception");
        var e2 = Throws<CommandFailedException>(() => cmd.RunChecked(), "RunChecked()");
        Equal(e.Message, e2.Message, "same message");
        Assert(e2 is ProcessKitException, "a ProcessKitException");
        // Accepted codes make it a success.
        Equal(3, new Command("sh", "-c", "exit 3").OkCodes(0, 3).RunChecked().ExitCode, "ok code 3");
    }

    static void TimeoutTearsDownTree()
    {
        int grandPid = 0;
        string grandStart = null;
        var cmd = new Command("sh", "-c", "sleep 30 & echo $!; sleep 30")
            .Timeout(TimeSpan.FromMilliseconds(300))
            .OnLine(StdStream.Stdout, line =>
            {
                // Runs on the loop thread while the tree is alive.
                grandPid = int.Parse(line.Trim());
                grandStart = StartTime(grandPid);
            });
        var sw = Stopwatch.StartNew();
        var r = cmd.Run();
        var elapsed = sw.Elapsed.TotalSeconds;
        Equal(Outcome.TimedOut, r.Outcome, "outcome");
        Assert(r.TimedOut && !r.Success, "timed out, no success");
        Assert(elapsed < 5, "returned in " + elapsed + " s");
        Assert(grandPid > 0 && grandStart != null, "grandchild pid seen");
        AssertDies(grandPid, grandStart, "grandchild");
        var e = Throws<CommandTimedOutException>(() => r.Check(), "Check()");
        Equal(ErrorCode.Timeout, e.Code, "code");
        Assert(e.LibraryMessage.Length > 0, "library message: " + e.Message);
    }

    static void Mechanisms()
    {
        using (var g = new Group())
        {
            NoteCgroup(g.Containment);
            Equal(Mechanism.CgroupV2, g.Mechanism, "auto mechanism");
            Equal("cgroup-v2", g.MechanismName, "auto mechanism name");
            Assert(g.Containment.CgroupPath.Length > 0, "cgroup path");
            Assert((g.Containment.Features & Feature.ContainsSetsid) != 0, "cgroup contains setsid");
        }
        using (var g = new Group(Backend.ProcessGroup))
        {
            Equal(Mechanism.ProcessGroup, g.Mechanism, "forced mechanism");
            Equal("process-group", g.MechanismName, "forced mechanism name");
            Equal("", g.Containment.CgroupPath, "no cgroup");
        }
        Equal("process-group", Library.Probe(Backend.ProcessGroup).MechanismName, "probe");
        Equal("cgroup-v2", Library.Probe().MechanismName, "probe auto");
        var r = new Command("true").GroupOptions(new GroupOptions { Backend = Backend.ProcessGroup }).RunChecked();
        Equal(Mechanism.ProcessGroup, r.Mechanism, "a run's mechanism");
        Equal(Mechanism.CgroupV2, new Command("true").RunChecked().Mechanism, "a default run's mechanism");
    }

    static void EmptyProgram()
    {
        var e = Throws<InvalidArgumentException>(() => new Command(""), "new Command(\"\")");
        Equal(ErrorCode.Invalid, e.Code, "code");
        Assert(e.LibraryMessage.Length > 0 && e.Message == e.LibraryMessage, "library message: " + e.Message);
        using (var g = new Group())
        {
            NoteCgroup(g.Containment);
            var e2 = Throws<InvalidArgumentException>(() => g.Spawn(new string[0]), "empty argv");
            Assert(e2.LibraryMessage.Contains("argv"), "message names argv: " + e2.Message);
        }
        var e3 = Throws<InvalidArgumentException>(() => new Command("true").OutputLimit((StdStream)42, 10), "bad enum");
        Assert(e3.LibraryMessage.Length > 0, "library message: " + e3.Message);
    }

    static void DisposedGroup()
    {
        var g = new Group();
        NoteCgroup(g.Containment);
        g.Dispose();
        var e = Throws<InvalidHandleException>(() => g.Spawn("true"), "spawn on a disposed group");
        Equal(ErrorCode.Handle, e.Code, "code");
        Assert(e.LibraryMessage.Length > 0 && e.LibraryMessage.Contains("pk_group_spawn"), "library message: " + e.Message);
        Throws<InvalidHandleException>(() => { var m = g.Mechanism; }, "containment of a disposed group");
        var cmd = new Command("true");
        cmd.Dispose();
        var e2 = Throws<InvalidHandleException>(() => cmd.Run(), "run a disposed command");
        Assert(e2.LibraryMessage.Contains("pk_command_run"), "library message: " + e2.Message);
    }

    static void MissingProgram()
    {
        using (var g = new Group())
        {
            NoteCgroup(g.Containment);
            var e = Throws<ProgramNotFoundException>(() => g.Spawn("/nonexistent/pk-cs-no-such-program"), "spawn");
            Equal(ErrorCode.NotFound, e.Code, "code");
            Assert(e.LibraryMessage.Length > 0, "library message: " + e.Message);
        }
        var e2 = Throws<ProgramNotFoundException>(() => new Command("pk-cs-no-such-program").Run(), "run");
        Assert(e2.LibraryMessage.Contains("pk-cs-no-such-program"), "message names the program: " + e2.Message);
    }

    static void AsyncConcurrent()
    {
        using (var loop = new Loop())
        {
            var a = new Command("sh", "-c", "sleep 0.3; echo a");
            var b = new Command("sh", "-c", "sleep 0.3; echo b; exit 4");
            var sw = Stopwatch.StartNew();
            var ta = a.RunAsync(loop);
            var tb = b.RunAsync(loop);
            Task.WaitAll(new Task[] { ta, tb }, TimeSpan.FromSeconds(10));
            var elapsed = sw.Elapsed.TotalSeconds;
            Equal("a\n", ta.Result.StdoutText, "a's output");
            Equal("b\n", tb.Result.StdoutText, "b's output");
            Equal(4, tb.Result.ExitCode, "b's exit code is data");
            Assert(elapsed < 1.5, "both finished in " + elapsed + " s (< 1.5 s, so concurrently)");
            Assert(elapsed >= 0.25, "they did sleep (" + elapsed + " s)");
            // A command disposed right after RunAsync still runs (it is
            // kept until started); one disposed before fails with the
            // library's handle error.
            Task<RunResult> late;
            using (var c = new Command("echo", "disposed-early"))
                late = c.RunAsync(loop);
            Equal("disposed-early\n", late.Result.StdoutText, "command disposed after RunAsync");
            var gone = new Command("true");
            gone.Dispose();
            var ae = Throws<AggregateException>(() => gone.RunAsync(loop).Wait(), "disposed command");
            Assert(ae.InnerException is InvalidHandleException && ((ProcessKitException)ae.InnerException).LibraryMessage.Contains("pk_loop_start"),
                "handle error from pk_loop_start: " + ae.InnerException);
            // The loop stays usable, and a group may be shared.
            using (var g = new Group())
            {
                NoteCgroup(g.Containment);
                var r = new Command("echo", "in-group").RunAsync(loop, g).Result;
                Equal("in-group\n", r.StdoutText, "run in a caller's group");
            }
        }
    }

    static async Task<double> RunTwoOnSharedLoop()
    {
        var sw = Stopwatch.StartNew();
        var results = await Task.WhenAll(
            new Command("sh", "-c", "sleep 0.3; echo x").RunAsync(),
            new Command("sh", "-c", "sleep 0.3; echo y").RunAsync());
        Equal("x\n", results[0].StdoutText, "x");
        Equal("y\n", results[1].StdoutText, "y");
        return sw.Elapsed.TotalSeconds;
    }

    static void AsyncSharedAndCancel()
    {
        var elapsed = RunTwoOnSharedLoop().Result;
        Assert(elapsed < 1.5, "shared loop ran both in " + elapsed + " s");

        var dir = TempDir();
        var pidFile = Path.Combine(dir, "grandchild.pid");
        using (var cts = new CancellationTokenSource())
        {
            var sw = Stopwatch.StartNew();
            var task = new Command("sh", "-c", "sleep 30 & echo $! > '" + pidFile + "'; wait").RunAsync(cts.Token);
            int grandPid = ReadPidFile(pidFile);
            string grandStart = StartTime(grandPid);
            cts.Cancel();
            try
            {
                task.Wait(TimeSpan.FromSeconds(10));
                throw new Exception("the task was not cancelled: " + task.Status);
            }
            catch (AggregateException ae)
            {
                Assert(ae.InnerException is TaskCanceledException, "cancelled: " + ae.InnerException);
            }
            Assert(task.IsCanceled, "task is cancelled");
            Assert(sw.Elapsed.TotalSeconds < 5, "cancelled promptly");
            AssertDies(grandPid, grandStart, "cancelled run's grandchild");
        }
    }

    static void AsyncStartError()
    {
        var task = new Command("pk-cs-no-such-program").RunAsync();
        try
        {
            task.Wait(TimeSpan.FromSeconds(10));
            throw new Exception("expected a fault, got " + task.Status);
        }
        catch (AggregateException ae)
        {
            var e = ae.InnerException as ProgramNotFoundException;
            Assert(e != null, "ProgramNotFoundException: " + ae.InnerException);
            Assert(e.LibraryMessage.Contains("pk-cs-no-such-program"), "library message from the loop thread: " + e.Message);
        }
    }

    /// <summary>The thread driving a loop now, or null while it is idle (the
    /// binding's private field: a thread's OS name is no evidence, as a
    /// thread it creates inherits it).</summary>
    static Thread DriverOf(Loop loop)
    {
        var f = typeof(Loop).GetField("driver", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance);
        Assert(f != null, "Loop has a driver field");
        return (Thread)f.GetValue(loop);
    }

    static Loop SharedIfCreated()
    {
        var f = typeof(Loop).GetField("shared", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static);
        Assert(f != null, "Loop has a shared field");
        return (Loop)f.GetValue(null);
    }

    static bool DriverGone(Thread t) { return t != null && t.Join(TimeSpan.FromSeconds(10)); }

    static int OpenFds() { return Directory.GetFileSystemEntries("/proc/self/fd").Length; }

    static void AssertCancelled(Task task, double seconds, string what)
    {
        try
        {
            task.Wait(TimeSpan.FromSeconds(seconds));
            throw new Exception(what + ": not cancelled: " + task.Status);
        }
        catch (AggregateException ae)
        {
            Assert(ae.InnerException is TaskCanceledException, what + ": cancelled: " + ae.InnerException);
        }
    }

    static void AssertDisposedFault(Task task, double seconds, string what)
    {
        try
        {
            task.Wait(TimeSpan.FromSeconds(seconds));
            throw new Exception(what + ": did not fail: " + task.Status);
        }
        catch (AggregateException ae)
        {
            Assert(ae.InnerException is ObjectDisposedException, what + ": ObjectDisposedException: " + ae.InnerException);
        }
    }

    static void AsyncCancelWakes()
    {
        // The loop's driver blocks in pk_loop_run_once; a cancelled token
        // reaches it through the library (pk_process_cancel wakes the loop)
        // and only that run ends. A bare pk_loop_wake ends the driver's wait
        // and kills nothing.
        var dir = TempDir();
        var pidFile = Path.Combine(dir, "grandchild.pid");
        using (var loop = new Loop())
        using (var cts = new CancellationTokenSource())
        {
            var kept = new Command("sh", "-c", "sleep 2; echo kept").RunAsync(loop);
            var victim = new Command("sh", "-c", "sleep 30 & echo $! > '" + pidFile + "'; wait").RunAsync(loop, null, cts.Token);
            int grandPid = ReadPidFile(pidFile);
            string grandStart = StartTime(grandPid);
            int rc;
            using (var h = new PkHandleRef(loop.Handle))
                rc = Native.pk_loop_wake(h.Ptr);
            Equal(0, rc, "pk_loop_wake");
            Thread.Sleep(100);
            Assert(!victim.IsCompleted && !kept.IsCompleted, "a wake ends no run");
            Assert(!IsDead(grandPid, grandStart), "a wake kills nothing");
            var sw = Stopwatch.StartNew();
            cts.Cancel();
            AssertCancelled(victim, 10, "the cancelled run");
            var elapsed = sw.Elapsed.TotalSeconds;
            Assert(elapsed < 5, "cancelled in " + elapsed + " s (< 5 s)");
            AssertDies(grandPid, grandStart, "cancelled run's grandchild");
            Assert(kept.Wait(TimeSpan.FromSeconds(10)), "the other run finished");
            var r = kept.Result;
            Equal(Outcome.Exited, r.Outcome, "the other run's outcome");
            Equal(0, r.ExitCode, "the other run's exit code");
            Equal("kept\n", r.StdoutText, "the other run's output");
            // The loop goes on taking runs.
            Equal("after\n", new Command("echo", "after").RunAsync(loop).Result.StdoutText, "a run after the cancel");
            Assert(WaitUntil(() => DriverOf(loop) == null, 10), "the driver ends once the loop is idle");
        }
    }

    /// <summary>Borrows a handle's pointer for a Native call in a test.</summary>
    sealed class PkHandleRef : IDisposable
    {
        readonly PkHandle handle;
        bool added;
        public readonly IntPtr Ptr;
        public PkHandleRef(PkHandle h)
        {
            handle = h;
            h.DangerousAddRef(ref added);
            Ptr = h.DangerousGetHandle();
        }
        public void Dispose() { if (added) handle.DangerousRelease(); }
    }

    static void AsyncIdleAndDispose()
    {
        // Warm up (Mono opens some files on first use), then count.
        using (var warm = new Loop())
            warm.RunAsync(new Command("true")).Wait(TimeSpan.FromSeconds(10));
        int fds = OpenFds();

        var dir = TempDir();
        var pidFile = Path.Combine(dir, "sleeper.pid");
        var loop = new Loop();
        Assert(DriverOf(loop) == null, "a new loop holds no thread");
        var first = loop.RunAsync(new Command("echo", "one"));
        var firstDriver = DriverOf(loop);
        Equal("one\n", first.Result.StdoutText, "first run");
        Assert(WaitUntil(() => DriverOf(loop) == null, 10), "the driver ends once the loop is idle");
        Assert(firstDriver == null || DriverGone(firstDriver), "the idle loop's driver thread has ended");
        Equal("two\n", loop.RunAsync(new Command("echo", "two")).Result.StdoutText, "a run on a loop gone idle");
        // Dispose while the driver blocks in the library for a run: it wakes
        // the driver, waits for it, and kills the run.
        var task = new Command("sh", "-c", "echo $$ > '" + pidFile + "'; exec sleep 30").RunAsync(loop);
        int pid = ReadPidFile(pidFile);
        string start = StartTime(pid);
        var driver = DriverOf(loop);
        Assert(driver != null && driver.IsAlive, "a driver while a run is in flight");
        var sw = Stopwatch.StartNew();
        loop.Dispose();
        var elapsed = sw.Elapsed.TotalSeconds;
        Assert(elapsed < 5, "Dispose returned in " + elapsed + " s (< 5 s)");
        Assert(!driver.IsAlive, "Dispose joined the driver");
        Assert(loop.Handle.IsClosed, "the loop is freed");
        AssertDisposedFault(task, 10, "the run in flight");
        AssertDies(pid, start, "the run in flight");
        Throws<ObjectDisposedException>(() => loop.RunAsync(new Command("true")), "RunAsync after Dispose");
        loop.Dispose();  // idempotent
        // Loops leave no fd behind (no eventfd of the binding's own).
        for (int i = 0; i < 10; i++)
            using (var l = new Loop())
                l.RunAsync(new Command("true")).Wait(TimeSpan.FromSeconds(10));
        Assert(WaitUntil(() => OpenFds() <= fds, 10), "open fds " + OpenFds() + " <= " + fds);
    }

    static void AsyncDisposeFromCallback()
    {
        // Dispose on the driver itself (a line callback) cannot wait for it:
        // the loop is freed once the driver has left the library.
        var loop = new Loop();
        Thread driver = null;
        var task = new Command("sh", "-c", "echo go; exec sleep 30")
            .OnLine(StdStream.Stdout, l => { driver = Thread.CurrentThread; loop.Dispose(); })
            .RunAsync(loop);
        AssertDisposedFault(task, 10, "the run whose callback disposed the loop");
        Assert(WaitUntil(() => loop.Handle.IsClosed, 10), "the loop is freed");
        Assert(DriverGone(driver), "the driver has ended");
    }

    static void StdinAndLines()
    {
        var lines = new List<string>();
        var events = new List<string>();
        var r = new Command("sh", "-c", "cat; echo e1 >&2")
            .Stdin("one\ntwo\nthree")
            .OnLine(StdStream.Stdout, l => lines.Add(l))
            .OnEvent((s, l) => events.Add(s + ":" + l))
            .RunChecked();
        Equal("one\ntwo\nthree", r.StdoutText, "stdin echoed");
        Equal("one|two|three", string.Join("|", lines), "stdout lines");
        Assert(events.Contains("Stderr:e1") && events.Contains("Stdout:three"), "events: " + string.Join(",", events));
        // Caps.
        var capped = new Command("sh", "-c", "printf 0123456789").OutputLimit(StdStream.Stdout, 4, Overflow.KeepTail).RunChecked();
        Equal("6789", capped.StdoutText, "tail kept");
        Assert(capped.StdoutTruncated && capped.StdoutBytesWritten == 10, "truncation reported");
        var over = new Command("sh", "-c", "printf 0123456789").OutputLimit(StdStream.Stdout, 4, Overflow.Error).Run();
        Throws<OutputOverflowException>(() => over.Check(), "overflow check");
        // A callback that throws: the run still completes, then Run rethrows.
        var boom = Throws<InvalidOperationException>(
            () => new Command("echo", "x").OnLine(StdStream.Stdout, l => { throw new InvalidOperationException("boom"); }).Run(),
            "callback exception surfaces");
        Equal("boom", boom.Message, "callback exception");
        // Environment and working directory.
        var dir = TempDir();
        var env = new Command("sh", "-c", "echo $PK_CS_X; pwd").Env("PK_CS_X", "val").WorkingDirectory(dir).RunChecked();
        Equal("val\n" + dir + "\n", env.StdoutText, "env and cwd");
    }

    static void ChildWaitAndSignal()
    {
        using (var g = new Group())
        {
            NoteCgroup(g.Containment);
            using (var c = g.Spawn(new SpawnOptions("sh", "-c", "exit 7") { Stdout = Stdio.Null }))
            {
                var s = c.Wait(TimeSpan.FromSeconds(10));
                Assert(s != null, "ended");
                Equal(ExitKind.Code, s.Kind, "kind");
                Equal(7, s.Code, "code");
            }
            using (var c = g.Spawn("sleep", "30"))
            {
                Assert(c.TryWait() == null, "still running");
                Assert(c.Wait(TimeSpan.FromMilliseconds(50)) == null, "wait times out as null");
                c.Signal(Signal.Kill);
                var s = c.Wait();
                Equal(ExitKind.Signal, s.Kind, "killed");
                Equal(Signal.Kill, s.Signal, "by SIGKILL");
            }
            var stats = g.Stats();
            Assert(stats.CpuTimeMicroseconds >= 0, "cgroup CPU stats");
            var rep = g.Shutdown(Signal.Term, TimeSpan.FromMilliseconds(500));
            Assert(rep.Drained, "nothing left to drain");
        }
    }

    static void NothingLeftBehind()
    {
        // Every cgroup leaf this run saw is gone...
        foreach (var d in cgroupDirs)
            Assert(WaitUntil(() => !Directory.Exists(d), 10), "cgroup leaf removed: " + d);
        // ...and no child of this process is left (alive or zombie), but the
        // library's keeper: a fork of this process (same executable, no exec)
        // that guards the cgroup leaves should this process die, and exits
        // with it. run_tests.sh checks that it is gone after the runner exits.
        int me = Process.GetCurrentProcess().Id;
        string myExe = ExeOf(me);
        var keepers = new List<int>();
        Func<List<int>> children = () =>
        {
            var kids = new List<int>();
            keepers.Clear();
            foreach (var entry in Directory.GetDirectories("/proc"))
            {
                int pid;
                if (!int.TryParse(Path.GetFileName(entry), out pid))
                    continue;
                var f = Stat(pid);
                if (f == null || f[1] != me.ToString())
                    continue;
                if (f[0] != "Z" && ExeOf(pid) == myExe)
                    keepers.Add(pid);
                else
                    kids.Add(pid);
            }
            return kids;
        };
        Assert(WaitUntil(() => children().Count == 0, 10), "no children left: " + string.Join(",", children()));
        // ...and no thread is left driving Loop.Shared (an idle loop holds none).
        var sharedLoop = SharedIfCreated();
        Assert(sharedLoop == null || WaitUntil(() => DriverOf(sharedLoop) == null, 10), "Loop.Shared is idle, no driver thread");
        Assert(keepers.Count <= 1, "at most one keeper: " + string.Join(",", keepers));
        var keeperFile = Environment.GetEnvironmentVariable("PK_CS_KEEPER_PIDS");
        if (!string.IsNullOrEmpty(keeperFile))
            File.WriteAllText(keeperFile, string.Join("\n", keepers.Select(k => k + " " + StartTime(k))) + "\n");
    }

    static string ExeOf(int pid)
    {
        try
        {
            // FileSystemInfo.LinkTarget is .NET 6+; readlink(2) works everywhere.
            var buf = new byte[4096];
            long n = (long)Readlink("/proc/" + pid + "/exe", buf, (UIntPtr)buf.Length);
            return n > 0 ? System.Text.Encoding.UTF8.GetString(buf, 0, (int)n) : null;
        }
        catch (Exception)
        {
            return null;
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "readlink")]
    static extern IntPtr Readlink(string path, byte[] buf, UIntPtr size);
}
