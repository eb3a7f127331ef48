// processkit for C#: the idiomatic layer over Native.g.cs (the generated
// P/Invoke declarations). Hand-written; C# 7.2, valid for Mono and .NET.
//
//   using (var g = new Group())             // kill-on-dispose container
//       g.Spawn("sh", "-c", "sleep 30 &");  // the whole tree dies with g
//   var r = new Command("sh", "-c", "echo hi; exit 3").Run();  // r.ExitCode == 3, data
//   new Command("false").RunChecked();      // throws CommandFailedException
//   await new Command("sleep", "1").RunAsync();  // on the shared loop
using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace ProcessKit
{
    // ------------------------------------------------------------------ errors

    /// <summary>A processkit call failed: <see cref="Code"/> is the library's
    /// error code, <see cref="LibraryMessage"/> its message (pk_last_error).</summary>
    public class ProcessKitException : Exception
    {
        /// <summary>The library's error code.</summary>
        public ErrorCode Code { get; private set; }
        /// <summary>The library's message for the failing call (pk_last_error()), as it gave it.</summary>
        public string LibraryMessage { get; private set; }

        public ProcessKitException(ErrorCode code, string libraryMessage)
            : base(string.IsNullOrEmpty(libraryMessage) ? Library.StrError(code) : libraryMessage)
        {
            Code = code;
            LibraryMessage = libraryMessage ?? "";
        }

        /// <summary>The exception type for a code (a subclass for the codes callers handle).</summary>
        internal static ProcessKitException Create(int rc, string message, RunResult result)
        {
            var code = (ErrorCode)rc;
            switch (code)
            {
                case ErrorCode.Invalid: return new InvalidArgumentException(message);
                case ErrorCode.Handle: return new InvalidHandleException(message);
                case ErrorCode.NotFound: return new ProgramNotFoundException(message);
                case ErrorCode.Permission: return new PermissionDeniedException(message);
                case ErrorCode.Unavailable: return new MechanismUnavailableException(message);
                case ErrorCode.Limit: return new LimitUnsupportedException(message);
                case ErrorCode.State: return new InvalidStateException(message);
            }
            if (result != null)
            {
                switch (code)
                {
                    case ErrorCode.Failed: return new CommandFailedException(message, result);
                    case ErrorCode.Timeout: return new CommandTimedOutException(message, result);
                    case ErrorCode.Cancelled: return new CommandCancelledException(message, result);
                    case ErrorCode.Overflow: return new OutputOverflowException(message, result);
                    default: return new RunFailedException(code, message, result);
                }
            }
            return new ProcessKitException(code, message);
        }
    }

    /// <summary>PK_ERR_INVALID: a bad argument (empty program name, NUL in a string, bad enum value...).</summary>
    public class InvalidArgumentException : ProcessKitException
    { public InvalidArgumentException(string m) : base(ErrorCode.Invalid, m) { } }

    /// <summary>PK_ERR_HANDLE: the object was disposed (or its handle is otherwise not valid).</summary>
    public class InvalidHandleException : ProcessKitException
    { public InvalidHandleException(string m) : base(ErrorCode.Handle, m) { } }

    /// <summary>PK_ERR_NOT_FOUND: the program was not found.</summary>
    public class ProgramNotFoundException : ProcessKitException
    { public ProgramNotFoundException(string m) : base(ErrorCode.NotFound, m) { } }

    /// <summary>PK_ERR_PERMISSION: the program may not be executed, or the operation was refused.</summary>
    public class PermissionDeniedException : ProcessKitException
    { public PermissionDeniedException(string m) : base(ErrorCode.Permission, m) { } }

    /// <summary>PK_ERR_UNAVAILABLE: the requested backend or minimum mechanism is not available here.</summary>
    public class MechanismUnavailableException : ProcessKitException
    { public MechanismUnavailableException(string m) : base(ErrorCode.Unavailable, m) { } }

    /// <summary>PK_ERR_LIMIT: a resource limit cannot be enforced here.</summary>
    public class LimitUnsupportedException : ProcessKitException
    { public LimitUnsupportedException(string m) : base(ErrorCode.Limit, m) { } }

    /// <summary>PK_ERR_STATE: not allowed in the object's current state.</summary>
    public class InvalidStateException : ProcessKitException
    { public InvalidStateException(string m) : base(ErrorCode.State, m) { } }

    /// <summary>A run did not succeed and the caller asked for success
    /// (<see cref="RunResult.Check"/>, <see cref="Command.RunChecked"/>).</summary>
    public class RunFailedException : ProcessKitException
    {
        /// <summary>The run's full result (output included).</summary>
        public RunResult Result { get; private set; }
        public RunFailedException(ErrorCode code, string m, RunResult result) : base(code, m) { Result = result; }
    }

    /// <summary>PK_ERR_FAILED: an exit code not accepted, or killed by a signal.</summary>
    public class CommandFailedException : RunFailedException
    { public CommandFailedException(string m, RunResult r) : base(ErrorCode.Failed, m, r) { } }

    /// <summary>PK_ERR_TIMEOUT: the run's timeout fired and its tree was torn down.</summary>
    public class CommandTimedOutException : RunFailedException
    { public CommandTimedOutException(string m, RunResult r) : base(ErrorCode.Timeout, m, r) { } }

    /// <summary>PK_ERR_CANCELLED: the run was cancelled.</summary>
    public class CommandCancelledException : RunFailedException
    { public CommandCancelledException(string m, RunResult r) : base(ErrorCode.Cancelled, m, r) { } }

    /// <summary>PK_ERR_OVERFLOW: captured output exceeded an Overflow.Error cap.</summary>
    public class OutputOverflowException : RunFailedException
    { public OutputOverflowException(string m, RunResult r) : base(ErrorCode.Overflow, m, r) { } }

    // ------------------------------------------------------------- the library

    /// <summary>Library-wide facts and helpers.</summary>
    public static class Library
    {
        static int initialized;

        /// <summary>Makes DllImport("processkit") find the packaged
        /// libprocesskit.so first and an installed libprocesskit.so.1 last on
        /// .NET Core 3+ (NativeLibrary, through reflection so this also
        /// compiles for Mono, which finds libprocesskit.so beside
        /// Processkit.dll by itself, or follows Processkit.dll.config).</summary>
        internal static void Init()
        {
            if (Interlocked.Exchange(ref initialized, 1) != 0)
                return;
            try
            {
                var nl = Type.GetType("System.Runtime.InteropServices.NativeLibrary");
                var resolverType = Type.GetType("System.Runtime.InteropServices.DllImportResolver");
                if (nl == null || resolverType == null)
                    return;
                var set = nl.GetMethod("SetDllImportResolver", new[] { typeof(Assembly), resolverType });
                var resolve = typeof(Library).GetMethod("Resolve", BindingFlags.NonPublic | BindingFlags.Static);
                if (set != null && resolve != null)
                    set.Invoke(null, new object[] { typeof(Library).Assembly, Delegate.CreateDelegate(resolverType, resolve) });
            }
            catch (Exception)
            {
                // Another resolver is installed already, or the runtime has
                // none: the default probing (or a dllmap) applies.
            }
        }

        static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
        {
            if (name != Native.Lib)
                return IntPtr.Zero;
            try
            {
                var nl = Type.GetType("System.Runtime.InteropServices.NativeLibrary");
                // First the runtime's own probing for "processkit" (it does not
                // call this resolver again): the NuGet package's
                // runtimes/linux-x64/native/libprocesskit.so, the app's
                // directory, then the system's libprocesskit.so; so a packaged
                // library wins over an installed one.
                var probe = nl.GetMethod("TryLoad", new[] { typeof(string), typeof(Assembly), typeof(DllImportSearchPath?), typeof(IntPtr).MakeByRefType() });
                if (probe != null)
                {
                    var args = new object[] { name, assembly, path, IntPtr.Zero };
                    if ((bool)probe.Invoke(null, args))
                        return (IntPtr)args[3];
                }
                // Then the SONAME: a system install without the unversioned
                // development symlink.
                var tryLoad = nl.GetMethod("TryLoad", new[] { typeof(string), typeof(IntPtr).MakeByRefType() });
                if (tryLoad != null)
                {
                    var args = new object[] { Native.SoName, IntPtr.Zero };
                    if ((bool)tryLoad.Invoke(null, args))
                        return (IntPtr)args[1];
                }
            }
            catch (Exception)
            {
                // Fall through: the runtime's default probing reports the failure.
            }
            return IntPtr.Zero;
        }

        /// <summary>The library's version, "major.minor.patch".</summary>
        public static string Version { get { Init(); return Native.PtrToStringUtf8(Native.pk_version_string()); } }

        /// <summary>The library's version packed as (major &lt;&lt; 16) | (minor &lt;&lt; 8) | patch.</summary>
        public static uint VersionNumber { get { Init(); return Native.pk_version(); } }

        /// <summary>The library's short description of an error code.</summary>
        public static string StrError(ErrorCode code) { Init(); return Native.PtrToStringUtf8(Native.pk_strerror((int)code)); }

        /// <summary>A mechanism's stable name ("cgroup-v2", "process-group", ...).</summary>
        public static string MechanismName(Mechanism m)
        {
            Init();
            return Native.PtrToStringUtf8(Native.pk_mechanism_name((int)m)) ?? m.ToString();
        }

        /// <summary>What a group created with <paramref name="backend"/> would get on this host.</summary>
        public static Containment Probe(Backend backend = Backend.Auto)
        {
            Init();
            var c = new Native.pk_containment();
            c.size = (uint)Marshal.SizeOf(typeof(Native.pk_containment));
            Check(Native.pk_host_probe((int)backend, ref c));
            return new Containment(ref c);
        }

        /// <summary>Every disagreement between this binding's struct layouts,
        /// the manifest it was generated from and the loaded library's
        /// pk_struct_size(); empty when all agree. A library struct larger
        /// than the manifest's is no disagreement: a newer 1.y library
        /// accepts an older caller's smaller structs (docs/abi.md).</summary>
        public static List<string> CheckAbi()
        {
            Init();
            var bad = Native.LayoutMismatches();
            foreach (var l in Native.Layouts)
            {
                if (l.StructId == 0)
                    continue;
                UIntPtr size;
                int rc = Native.pk_struct_size(l.StructId, out size);
                if (rc != 0)
                    bad.Add(l.Name + ": pk_struct_size failed: " + LastError());
                else if ((ulong)size < (ulong)l.Size)
                    bad.Add(l.Name + ": library size " + size + " < manifest " + l.Size + " (a library older than this binding)");
            }
            return bad;
        }

        internal static string LastError() { return Native.PtrToStringUtf8(Native.pk_last_error()) ?? ""; }

        /// <summary>Throws the exception for a negative return code, with this
        /// thread's pk_last_error(). Call right after the failing call.</summary>
        internal static void Check(int rc)
        {
            if (rc < 0)
                throw ProcessKitException.Create(rc, LastError(), null);
        }

        internal static void Check(int rc, string context)
        {
            if (rc < 0)
            {
                var msg = LastError();
                throw ProcessKitException.Create(rc, string.IsNullOrEmpty(context) ? msg : msg + " (" + context + ")", null);
            }
        }

        /// <summary>A NUL-terminated UTF-8 copy of s in unmanaged memory (Marshal.FreeHGlobal it).</summary>
        internal static IntPtr AllocUtf8(string s)
        {
            if (s == null)
                return IntPtr.Zero;
            var bytes = Encoding.UTF8.GetBytes(s);
            var p = Marshal.AllocHGlobal(bytes.Length + 1);
            Marshal.Copy(bytes, 0, p, bytes.Length);
            Marshal.WriteByte(p, bytes.Length, 0);
            return p;
        }
    }

    public static partial class Native
    {
        static partial void OnFirstUse() { Library.Init(); }
    }

    // ----------------------------------------------------------------- handles

    /// <summary>An owned processkit handle; releasing it calls the matching pk_*_free.</summary>
    public abstract class PkHandle : SafeHandle
    {
        protected PkHandle() : base(IntPtr.Zero, true) { }
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
        internal void Adopt(IntPtr p) { SetHandle(p); }

        /// <summary>Keeps the handle from being released for the length of a
        /// native call. Once disposed, the call gets NULL, so the library
        /// reports PK_ERR_HANDLE with its own message (a freed handle value is
        /// never passed again: its slot may have been reused).</summary>
        internal Use Borrow() { return new Use(this); }

        internal struct Use : IDisposable
        {
            readonly PkHandle owner;
            readonly bool added;
            public readonly IntPtr Ptr;

            public Use(PkHandle h)
            {
                owner = h;
                added = false;
                Ptr = IntPtr.Zero;
                try
                {
                    h.DangerousAddRef(ref added);
                    Ptr = h.DangerousGetHandle();
                }
                catch (ObjectDisposedException)
                {
                    added = false;
                }
            }

            public void Dispose()
            {
                if (added)
                    owner.DangerousRelease();
            }
        }
    }

    /// <summary>pk_group: releasing it kills the whole tree (pk_group_free).</summary>
    public sealed class GroupHandle : PkHandle
    { protected override bool ReleaseHandle() { return Native.pk_group_free(handle) == 0; } }
    /// <summary>pk_child: releasing it leaves the process alone.</summary>
    public sealed class ChildHandle : PkHandle
    { protected override bool ReleaseHandle() { return Native.pk_child_free(handle) == 0; } }
    /// <summary>pk_command.</summary>
    public sealed class CommandHandle : PkHandle
    { protected override bool ReleaseHandle() { return Native.pk_command_free(handle) == 0; } }
    /// <summary>pk_loop: releasing it kills and reaps everything still running on it.</summary>
    public sealed class LoopHandle : PkHandle
    { protected override bool ReleaseHandle() { return Native.pk_loop_free(handle) == 0; } }
    /// <summary>pk_process: releasing it cancels a run still going.</summary>
    public sealed class ProcessHandle : PkHandle
    { protected override bool ReleaseHandle() { return Native.pk_process_free(handle) == 0; } }
    /// <summary>pk_result.</summary>
    public sealed class ResultHandle : PkHandle
    { protected override bool ReleaseHandle() { return Native.pk_result_free(handle) == 0; } }
    /// <summary>pk_cancel.</summary>
    public sealed class CancelHandle : PkHandle
    { protected override bool ReleaseHandle() { return Native.pk_cancel_free(handle) == 0; } }

    // ------------------------------------------------------------------ groups

    /// <summary>How a group is created (pk_group_options).</summary>
    public sealed class GroupOptions
    {
        public Backend Backend = Backend.Auto;
        /// <summary>Refuse anything weaker (MechanismUnavailableException).</summary>
        public Mechanism MinMechanism = Mechanism.None;
        /// <summary>Default for spawns: the signal a direct child gets when its spawning thread dies; 0 = none.</summary>
        public Signal ParentDeathSignal;
        /// <summary>Bytes; 0 = no limit.</summary>
        public ulong MemoryMax;
        /// <summary>Processes in the tree; 0 = no limit.</summary>
        public ulong PidsMax;
        /// <summary>CPU cores; 0 = no limit.</summary>
        public double CpuMax;
        /// <summary>Kill the tree even when this process dies without
        /// disposing the group (a keeper process does it, on cgroup v2).
        /// Default true; false sets GroupFlag.NoOwnerDeathKill.</summary>
        public bool KillOnOwnerDeath = true;

        internal Native.pk_group_options ToNative()
        {
            var o = new Native.pk_group_options();
            o.size = (uint)Marshal.SizeOf(typeof(Native.pk_group_options));
            o.backend = (int)Backend;
            o.min_mechanism = (int)MinMechanism;
            o.parent_death_signal = (int)ParentDeathSignal;
            o.memory_max = MemoryMax;
            o.pids_max = PidsMax;
            o.cpu_max = CpuMax;
            o.flags = KillOnOwnerDeath ? 0u : (uint)GroupFlag.NoOwnerDeathKill;
            return o;
        }
    }

    /// <summary>What holds a group, or what one would get (pk_containment).</summary>
    public sealed class Containment
    {
        public Mechanism Mechanism { get; private set; }
        /// <summary>"cgroup-v2", "process-group", "job-object" or "none".</summary>
        public string MechanismName { get; private set; }
        public Feature Features { get; private set; }
        /// <summary>Why a stronger mechanism was not used; "" if none was wanted.</summary>
        public string Reason { get; private set; }
        public string CgroupMount { get; private set; }
        /// <summary>The group's cgroup leaf directory, or "".</summary>
        public string CgroupPath { get; private set; }

        internal unsafe Containment(ref Native.pk_containment c)
        {
            Mechanism = (Mechanism)c.mechanism;
            MechanismName = Library.MechanismName(Mechanism);
            Features = (Feature)c.features;
            fixed (byte* r = c.reason) Reason = Native.FixedToString(r, 256);
            fixed (byte* m = c.cgroup_mount) CgroupMount = Native.FixedToString(m, 256);
            fixed (byte* p = c.cgroup_path) CgroupPath = Native.FixedToString(p, 512);
        }

        public override string ToString()
        {
            return MechanismName + (Reason.Length > 0 ? " (" + Reason + ")" : "");
        }
    }

    /// <summary>How to start a child in a group (pk_spawn_options).</summary>
    public sealed class SpawnOptions
    {
        /// <summary>argv; Argv[0] is also the program unless Program is set.</summary>
        public string[] Argv;
        public string Program;
        /// <summary>The whole environment as KEY=VALUE; null = the caller's.</summary>
        public IDictionary<string, string> Environment;
        public string WorkingDirectory;
        /// <summary>The child's stdio (default: inherited, as the C library's
        /// spawn does): Stdio.Inherit, Stdio.Null, Stdio.Piped (then Child.StandardInput/
        /// StandardOutput/StandardError are Streams) or Stdio.From(a FileStream or SafeHandle).</summary>
        public Stdio Stdin = Stdio.Inherit, Stdout = Stdio.Inherit, Stderr = Stdio.Inherit;
        public bool NewSession;
        public bool NoPathSearch;
        /// <summary>null = the group's default; Signal.None = none.</summary>
        public Signal? ParentDeathSignal;
        /// <summary>Windows: CREATE_NO_WINDOW; elsewhere no effect.</summary>
        public bool CreateNoWindow;

        public SpawnOptions(params string[] argv) { Argv = argv; }
    }

    /// <summary>How a child ended.</summary>
    public sealed class ExitStatus
    {
        public ExitKind Kind { get; private set; }
        /// <summary>The exit code when Kind is Code.</summary>
        public int Code { get; private set; }
        /// <summary>The signal when Kind is Signal.</summary>
        public Signal Signal { get; private set; }
        public bool CoreDumped { get; private set; }

        internal ExitStatus(ref Native.pk_exit_status s)
        {
            Kind = (ExitKind)s.kind;
            Code = s.code;
            Signal = (Signal)s.signal;
            CoreDumped = s.core_dumped != 0;
        }

        public override string ToString()
        {
            return Kind == ExitKind.Code ? "exit " + Code : Kind == ExitKind.Signal ? "signal " + Signal.SignalName() : "running";
        }
    }

    /// <summary>A group's usage.</summary>
    public sealed class GroupStats
    {
        public uint LiveProcesses;
        /// <summary>-1 if this mechanism cannot tell.</summary>
        public long CpuTimeMicroseconds;
        /// <summary>-1 if this mechanism cannot tell.</summary>
        public long PeakMemoryBytes;
    }

    /// <summary>What Group.Shutdown did.</summary>
    public sealed class ShutdownReport
    {
        public uint MembersBefore, MembersAfter;
        public bool Drained, Escalated;
        public TimeSpan Elapsed;
    }

    /// <summary>A kill-on-dispose container of processes (pk_group):
    /// disposing it, or its finalizer, kills the whole tree.</summary>
    public sealed class Group : IDisposable
    {
        readonly GroupHandle handle = new GroupHandle();

        /// <summary>A group with the strongest available mechanism.</summary>
        public Group() : this((GroupOptions)null) { }

        /// <summary>A group on the given backend.</summary>
        public Group(Backend backend) : this(new GroupOptions { Backend = backend }) { }

        public Group(GroupOptions options)
        {
            Library.Init();
            IntPtr p;
            int rc;
            if (options == null)
            {
                rc = Native.pk_group_create(IntPtr.Zero, out p);
            }
            else
            {
                var o = options.ToNative();
                rc = Native.pk_group_create(ref o, out p);
            }
            Library.Check(rc);
            handle.Adopt(p);
        }

        /// <summary>The underlying handle (for Native calls).</summary>
        public GroupHandle Handle { get { return handle; } }
        public bool IsDisposed { get { return handle.IsClosed; } }

        /// <summary>What holds this group and why nothing stronger does.</summary>
        public Containment Containment
        {
            get
            {
                var c = new Native.pk_containment();
                c.size = (uint)Marshal.SizeOf(typeof(Native.pk_containment));
                using (var u = handle.Borrow())
                    Library.Check(Native.pk_group_containment(u.Ptr, ref c));
                return new Containment(ref c);
            }
        }

        public Mechanism Mechanism { get { return Containment.Mechanism; } }
        /// <summary>"cgroup-v2", "process-group", ...</summary>
        public string MechanismName { get { return Containment.MechanismName; } }

        /// <summary>Start argv[0] with argv inside the group (stdio inherited).</summary>
        public Child Spawn(params string[] argv) { return Spawn(new SpawnOptions(argv)); }

        public Child Spawn(SpawnOptions options)
        {
            if (options == null)
                throw new ArgumentNullException("options");
            var allocated = new List<IntPtr>();
            try
            {
                var o = new Native.pk_spawn_options();
                o.size = (uint)Marshal.SizeOf(typeof(Native.pk_spawn_options));
                o.flags = (options.NewSession ? (uint)SpawnFlag.NewSession : 0) |
                          (options.NoPathSearch ? (uint)SpawnFlag.NoPathSearch : 0) |
                          (options.CreateNoWindow ? (uint)SpawnFlag.NoWindow : 0);
                o.program = Keep(allocated, Library.AllocUtf8(options.Program));
                o.argv = StringArray(allocated, options.Argv);
                if (options.Environment != null)
                {
                    var env = new List<string>();
                    foreach (var kv in options.Environment)
                        env.Add(kv.Key + "=" + kv.Value);
                    o.envp = StringArray(allocated, env.ToArray());
                }
                o.cwd = Keep(allocated, Library.AllocUtf8(options.WorkingDirectory));
                o.parent_death_signal = options.ParentDeathSignal.HasValue ? (int)options.ParentDeathSignal.Value : -1;
                var pipes = new SpawnPipes();
                try
                {
                    o.stdin_fd = pipes.Fd(options.Stdin, 0);
                    o.stdout_fd = pipes.Fd(options.Stdout, 1);
                    o.stderr_fd = pipes.Fd(options.Stderr, 2);
                    IntPtr child;
                    using (var u = handle.Borrow())
                        Library.Check(Native.pk_group_spawn(u.Ptr, ref o, out child));
                    var h = new ChildHandle();
                    h.Adopt(child);
                    var c = new Child(h);
                    pipes.Started(c);
                    return c;
                }
                catch
                {
                    pipes.Abort();
                    throw;
                }
            }
            finally
            {
                foreach (var p in allocated)
                    Marshal.FreeHGlobal(p);
            }
        }

        static IntPtr Keep(List<IntPtr> allocated, IntPtr p)
        {
            if (p != IntPtr.Zero)
                allocated.Add(p);
            return p;
        }

        static IntPtr StringArray(List<IntPtr> allocated, string[] items)
        {
            if (items == null)
                return IntPtr.Zero;
            var array = Keep(allocated, Marshal.AllocHGlobal(IntPtr.Size * (items.Length + 1)));
            for (int i = 0; i < items.Length; i++)
            {
                if (items[i] == null)
                    throw new ArgumentNullException("argv[" + i + "]");
                Marshal.WriteIntPtr(array, i * IntPtr.Size, Keep(allocated, Library.AllocUtf8(items[i])));
            }
            Marshal.WriteIntPtr(array, items.Length * IntPtr.Size, IntPtr.Zero);
            return array;
        }

        /// <summary>Bring an existing child of this process into the group.</summary>
        public void Adopt(int pid) { using (var u = handle.Borrow()) Library.Check(Native.pk_group_adopt(u.Ptr, pid)); }
        /// <summary>Send a signal to every process in the group.</summary>
        public void Signal(Signal sig) { using (var u = handle.Borrow()) Library.Check(Native.pk_group_signal(u.Ptr, (int)sig)); }
        /// <summary>SIGKILL the whole tree; the group stays usable.</summary>
        public void Kill() { using (var u = handle.Borrow()) Library.Check(Native.pk_group_kill(u.Ptr)); }
        public void Suspend() { using (var u = handle.Borrow()) Library.Check(Native.pk_group_suspend(u.Ptr)); }
        public void Resume() { using (var u = handle.Borrow()) Library.Check(Native.pk_group_resume(u.Ptr)); }

        /// <summary>The pids in the group.</summary>
        public int[] Members()
        {
            using (var u = handle.Borrow())
            {
                for (int capacity = 64; ; capacity *= 2)
                {
                    var pids = new int[capacity];
                    UIntPtr count;
                    Library.Check(Native.pk_group_members(u.Ptr, pids, (UIntPtr)capacity, out count));
                    if ((ulong)count <= (ulong)capacity)
                    {
                        Array.Resize(ref pids, (int)count);
                        return pids;
                    }
                }
            }
        }

        public GroupStats Stats()
        {
            var s = new Native.pk_group_stats();
            s.size = (uint)Marshal.SizeOf(typeof(Native.pk_group_stats));
            using (var u = handle.Borrow())
                Library.Check(Native.pk_group_stats_get(u.Ptr, ref s));
            return new GroupStats { LiveProcesses = s.live_processes, CpuTimeMicroseconds = s.cpu_time_us, PeakMemoryBytes = s.peak_memory_bytes };
        }

        /// <summary>Send <paramref name="signal"/>, wait up to the grace for the
        /// tree to drain, then (if escalating) SIGKILL the rest.</summary>
        public ShutdownReport Shutdown(Signal signal = ProcessKit.Signal.Term, TimeSpan? grace = null, bool escalate = true)
        {
            var o = new Native.pk_shutdown_options();
            o.size = (uint)Marshal.SizeOf(typeof(Native.pk_shutdown_options));
            o.signal = (int)signal;
            o.grace_ms = (uint)(grace ?? TimeSpan.FromSeconds(2)).TotalMilliseconds;
            o.escalate = escalate ? 1 : 0;
            var r = new Native.pk_shutdown_report();
            r.size = (uint)Marshal.SizeOf(typeof(Native.pk_shutdown_report));
            using (var u = handle.Borrow())
                Library.Check(Native.pk_group_shutdown(u.Ptr, ref o, ref r));
            return new ShutdownReport
            {
                MembersBefore = r.members_before,
                MembersAfter = r.members_after,
                Drained = r.drained != 0,
                Escalated = r.escalated != 0,
                Elapsed = TimeSpan.FromTicks((long)r.elapsed_us * 10),
            };
        }

        /// <summary>Kill the whole tree and release the group (pk_group_free). Idempotent.</summary>
        public void Dispose() { handle.Dispose(); }
    }

    /// <summary>A direct child spawned into a group (pk_child). Disposing the
    /// handle leaves the process alone: its group owns it.</summary>
    public sealed class Child : IDisposable
    {
        readonly ChildHandle handle;

        internal Child(ChildHandle h) { handle = h; }

        public ChildHandle Handle { get { return handle; } }

        public int Pid
        {
            get
            {
                int pid;
                using (var u = handle.Borrow())
                    Library.Check(Native.pk_child_pid(u.Ptr, out pid));
                return pid;
            }
        }

        /// <summary>An fd that polls readable when the child exits (owned by the handle).</summary>
        public int PollFd
        {
            get
            {
                int fd;
                using (var u = handle.Borrow())
                    Library.Check(Native.pk_child_pollfd(u.Ptr, out fd));
                return fd;
            }
        }

        /// <summary>Wait for the child to end and reap it.</summary>
        public ExitStatus Wait() { return WaitMs(-1); }

        /// <summary>Wait up to <paramref name="timeout"/>; null if it is still running.</summary>
        public ExitStatus Wait(TimeSpan timeout) { return WaitMs((int)Math.Max(0, Math.Min(int.MaxValue, timeout.TotalMilliseconds))); }

        /// <summary>The status if the child has ended, else null (never blocks).</summary>
        public ExitStatus TryWait() { return WaitMs(0); }

        ExitStatus WaitMs(int ms)
        {
            var s = new Native.pk_exit_status();
            s.size = (uint)Marshal.SizeOf(typeof(Native.pk_exit_status));
            int rc;
            using (var u = handle.Borrow())
                rc = Native.pk_child_wait(u.Ptr, ms, ref s);
            if (rc == (int)ErrorCode.Timeout)
                return null;
            Library.Check(rc);
            return new ExitStatus(ref s);
        }

        /// <summary>Signal the child alone (through its pidfd).</summary>
        public void Signal(Signal sig) { using (var u = handle.Borrow()) Library.Check(Native.pk_child_signal(u.Ptr, (int)sig)); }

        /// <summary>The child's stdin when spawned with Stdio.Piped (write, then Dispose for EOF), else null.</summary>
        public Stream StandardInput { get; internal set; }
        /// <summary>The child's stdout when spawned with Stdio.Piped, else null.</summary>
        public Stream StandardOutput { get; internal set; }
        /// <summary>The child's stderr when spawned with Stdio.Piped, else null.</summary>
        public Stream StandardError { get; internal set; }

        /// <summary>Releases the handle and the piped streams; the process stays in its group.</summary>
        public void Dispose()
        {
            foreach (var st in new[] { StandardInput, StandardOutput, StandardError })
                if (st != null)
                    st.Dispose();
            handle.Dispose();
        }
    }

    // ---------------------------------------------------------------- commands

    /// <summary>A cancellation token (pk_cancel), triggerable from any thread.</summary>
    public sealed partial class CancelToken : IDisposable
    {
        readonly CancelHandle handle = new CancelHandle();

        public CancelToken()
        {
            Library.Init();
            IntPtr p;
            Library.Check(Native.pk_cancel_new(out p));
            handle.Adopt(p);
        }

        public CancelHandle Handle { get { return handle; } }

        /// <summary>Kill every run watching this token; they end as cancelled.</summary>
        public void Trigger()
        {
            using (var u = handle.Borrow()) Library.Check(Native.pk_cancel_trigger(u.Ptr));
            Action linked;
            lock (this) linked = triggered;
            if (linked != null)
                linked();
        }

        // Tokens a call put in this one's place on a command for its length
        // (a CancellationToken's), so triggering this one still cancels it.
        Action triggered;
        internal void Link(Action a) { lock (this) triggered += a; }
        internal void Unlink(Action a) { lock (this) triggered -= a; }

        public void Dispose() { handle.Dispose(); }
    }

    /// <summary>What to run and how (pk_command): a reusable builder. Every
    /// setter returns this, and fails at once with the library's error.</summary>
    public sealed partial class Command : IDisposable
    {
        readonly CommandHandle handle = new CommandHandle();
        readonly List<Native.LineFn> callbacks = new List<Native.LineFn>();
        Exception callbackError;

        /// <summary>A command for <paramref name="program"/> (searched in PATH
        /// without a slash) with arguments <paramref name="args"/>.</summary>
        public Command(string program, params string[] args)
        {
            Library.Init();
            Program = program;
            argv.Add(program);
            IntPtr p;
            Library.Check(Native.pk_command_new(program, out p));
            handle.Adopt(p);
            Args(args);
        }

        public string Program { get; private set; }
        public CommandHandle Handle { get { return handle; } }

        Command Do(Func<IntPtr, int> call)
        {
            using (var u = handle.Borrow())
                Library.Check(call(u.Ptr));
            return this;
        }

        public Command Arg(string arg)
        {
            Do(p => Native.pk_command_arg(p, arg));
            lock (argv) argv.Add(arg);
            return this;
        }

        public Command Args(IEnumerable<string> args)
        {
            if (args != null)
                foreach (var a in args)
                    Arg(a);
            return this;
        }

        public Command Args(params string[] args) { return Args((IEnumerable<string>)args); }
        public Command Env(string key, string value)
        {
            Do(p => Native.pk_command_env(p, key, value));
            lock (argv) env[key] = value;
            return this;
        }

        public Command EnvUnset(string key)
        {
            Do(p => Native.pk_command_env_unset(p, key));
            lock (argv) env[key] = null;
            return this;
        }

        /// <summary>Start from an empty environment (later Env calls still apply).</summary>
        public Command EnvClear()
        {
            Do(p => Native.pk_command_env_clear(p));
            lock (argv) { env.Clear(); EnvCleared = true; }
            return this;
        }

        public Command WorkingDirectory(string dir)
        {
            Do(p => Native.pk_command_cwd(p, dir));
            Cwd = dir;
            return this;
        }

        /// <summary>The working directory as an open directory (fchdir); wins over WorkingDirectory(string).
        /// The handle must stay open until the run has started.</summary>
        public Command WorkingDirectory(SafeHandle directory)
        {
            int fd = FdOf(directory);
            return Do(p => Native.pk_command_cwd_fd(p, fd));
        }

        /// <summary>The child leads a new session and process group (PK_COMMAND_NEW_SESSION).</summary>
        public Command NewSession(bool on = true) { return Flag(CommandFlag.NewSession, on); }

        /// <summary>Windows: CREATE_NO_WINDOW, a console program gets no console window
        /// (ProcessStartInfo.CreateNoWindow); elsewhere accepted and without effect.</summary>
        public Command CreateNoWindow(bool on = true) { return Flag(CommandFlag.NoWindow, on); }

        Command Flag(CommandFlag f, bool on)
        {
            lock (argv)
            {
                flags = on ? flags | (uint)f : flags & ~(uint)f;
                uint now = flags;
                return Do(p => Native.pk_command_flags(p, now));
            }
        }

        /// <summary>The signal the child gets when its spawning thread dies (Linux); Signal.None = none.</summary>
        public Command ParentDeathSignal(Signal sig) { return Do(p => Native.pk_command_parent_death_signal(p, (int)sig)); }

        /// <summary>stdin: these bytes, then end of file.</summary>
        public Command Stdin(byte[] data)
        {
            data = data ?? new byte[0];
            Do(p => Native.pk_command_stdin_bytes(p, data, (UIntPtr)data.Length));
            SetStdin(null, false, (byte[])data.Clone());
            return this;
        }

        /// <summary>stdin: this text as UTF-8, then end of file.</summary>
        public Command Stdin(string text) { return Stdin(Encoding.UTF8.GetBytes(text ?? "")); }
        /// <summary>stdin: /dev/null (the default, as System.Diagnostics.Process without redirection reads nothing of ours).</summary>
        public Command StdinNull() { Do(p => Native.pk_command_stdin_null(p)); SetStdin(null, false, null); return this; }
        public Command StdinInherit() { Do(p => Native.pk_command_stdin_inherit(p)); SetStdin(null, false, null); return this; }
        public Command StdinFile(string path) { Do(p => Native.pk_command_stdin_file(p, path)); SetStdin(null, false, null); return this; }
        /// <summary>stdin: an open file or pipe handle (not closed by the run).</summary>
        public Command Stdin(SafeHandle handle) { int fd = FdOf(handle); return StdinFd(fd); }
        public Command StdinFd(int fd) { Do(p => Native.pk_command_stdin_fd(p, fd)); SetStdin(null, false, null); return this; }

        /// <summary>Where stdout goes (fd only for OutputMode.Fd).</summary>
        public Command Stdout(OutputMode mode, int fd = -1) { Do(p => Native.pk_command_output(p, (int)StdStream.Stdout, (int)mode, fd)); SetOutput(StdStream.Stdout, null, false); return this; }
        /// <summary>Where stderr goes (OutputMode.Merge: into stdout's pipe).</summary>
        public Command Stderr(OutputMode mode, int fd = -1) { Do(p => Native.pk_command_output(p, (int)StdStream.Stderr, (int)mode, fd)); SetOutput(StdStream.Stderr, null, false); return this; }
        /// <summary>stdout into an open file or pipe handle (not closed by the run).</summary>
        public Command Stdout(SafeHandle handle) { return Stdout(OutputMode.Fd, FdOf(handle)); }
        public Command Stderr(SafeHandle handle) { return Stderr(OutputMode.Fd, FdOf(handle)); }

        internal static int FdOf(SafeHandle h)
        {
            if (h == null || h.IsInvalid || h.IsClosed)
                throw new ArgumentException("an open handle is needed", "handle");
            return (int)h.DangerousGetHandle();
        }

        /// <summary>Cap a captured stream at maxBytes with an overflow policy.</summary>
        public Command OutputLimit(StdStream stream, ulong maxBytes, Overflow policy = Overflow.KeepHead)
        {
            return Do(p => Native.pk_command_output_limit(p, (int)stream, maxBytes, (int)policy));
        }

        /// <summary>After <paramref name="timeout"/> send <paramref name="signal"/>
        /// (0 = SIGTERM) to the tree, wait <paramref name="grace"/> (default 0),
        /// then SIGKILL it; the run ends as Outcome.TimedOut.</summary>
        public Command Timeout(TimeSpan timeout, Signal signal = ProcessKit.Signal.None, TimeSpan? grace = null)
        {
            uint ms = (uint)Math.Max(1, timeout.TotalMilliseconds);
            uint g = (uint)Math.Max(0, (grace ?? TimeSpan.Zero).TotalMilliseconds);
            return Do(p => Native.pk_command_timeout(p, ms, (int)signal, g));
        }

        /// <summary>Exit codes that count as success (none: just 0).</summary>
        public Command OkCodes(params int[] codes)
        {
            codes = codes ?? new int[0];
            Do(p => Native.pk_command_ok_codes(p, codes, (UIntPtr)codes.Length));
            lock (argv) okCodes = codes.Length == 0 ? new[] { 0 } : (int[])codes.Clone();
            return this;
        }

        /// <summary>The options of the private group each run gets.</summary>
        public Command GroupOptions(GroupOptions options)
        {
            var o = options.ToNative();
            return Do(p => Native.pk_command_group_options(p, ref o));
        }

        /// <summary>Cancel runs of this command when the token is triggered (null detaches).</summary>
        public Command CancelOn(CancelToken token)
        {
            using (var t = token == null ? default(PkHandle.Use) : token.Handle.Borrow())
            {
                IntPtr tp = t.Ptr;
                if (token != null && tp == IntPtr.Zero)
                    throw new InvalidHandleException("pk_command_cancel_on: the CancelToken was disposed");
                Do(p => Native.pk_command_cancel_on(p, tp));
                userToken = token;
                return this;
            }
        }

        /// <summary>Call <paramref name="onLine"/> with each line of a stream
        /// (UTF-8, without its newline), on the thread driving the run. An
        /// exception it throws is rethrown by Run() (or faults RunAsync's task).</summary>
        public Command OnLine(StdStream stream, Action<string> onLine)
        {
            if (onLine == null)
                return Do(p => Native.pk_command_on_line(p, (int)stream, null, IntPtr.Zero));
            Native.LineFn fn = (user, s, line, len) => Deliver(() => onLine(Decode(line, len)));
            lock (callbacks) callbacks.Add(fn);
            return Do(p => Native.pk_command_on_line(p, (int)stream, fn, IntPtr.Zero));
        }

        /// <summary>Call <paramref name="onEvent"/> for every line of either stream, in arrival order.</summary>
        public Command OnEvent(Action<StdStream, string> onEvent)
        {
            if (onEvent == null)
                return Do(p => Native.pk_command_on_event(p, null, IntPtr.Zero));
            Native.LineFn fn = (user, s, line, len) => Deliver(() => onEvent((StdStream)s, Decode(line, len)));
            lock (callbacks) callbacks.Add(fn);
            return Do(p => Native.pk_command_on_event(p, fn, IntPtr.Zero));
        }

        static string Decode(IntPtr line, UIntPtr len)
        {
            var bytes = new byte[(int)len];
            if (bytes.Length > 0)
                Marshal.Copy(line, bytes, 0, bytes.Length);
            return Encoding.UTF8.GetString(bytes);
        }

        void Deliver(Action a)
        {
            // Never let a managed exception unwind through native frames.
            try { a(); }
            catch (Exception e) { Interlocked.CompareExchange(ref callbackError, e, null); }
        }

        /// <summary>The first exception a line callback threw since the last call (cleared).</summary>
        internal Exception TakeCallbackError() { return Interlocked.Exchange(ref callbackError, null); }

        /// <summary>The delegates native code may call; kept alive by whoever runs this command.</summary>
        internal object CallbackRoots() { lock (callbacks) return callbacks.ToArray(); }

        /// <summary>Run in a private group, capture, wait. A non-zero exit is
        /// data (see RunResult.ExitCode); Check() or RunChecked() turn it into
        /// an exception.</summary>
        public RunResult Run() { return Run(CancellationToken.None); }

        /// <summary>Run() that <paramref name="cancellationToken"/> can stop:
        /// cancelling kills the run's tree (pk_process_cancel) and throws
        /// RunCancelledException (an OperationCanceledException carrying the result).</summary>
        public RunResult Run(CancellationToken cancellationToken)
        {
            if (cancellationToken.CanBeCanceled || HasStdioPlan)
                return RunOnPrivateLoop(cancellationToken);
            IntPtr r;
            int rc;
            using (var u = handle.Borrow())
                rc = Native.pk_command_run(u.Ptr, out r);
            GC.KeepAlive(callbacks);
            Library.Check(rc);
            var result = RunResult.Take(r);
            var err = TakeCallbackError();
            if (err != null)
                ExceptionDispatchInfo.Capture(err).Throw();
            return result;
        }

        /// <summary>Run() then Check(): throws a RunFailedException subclass
        /// carrying the library's message unless the run succeeded.</summary>
        public RunResult RunChecked(CancellationToken cancellationToken = default(CancellationToken)) { return Run(cancellationToken).Check(); }

        /// <summary>Run on the shared loop (<see cref="Loop.Shared"/>).</summary>
        public Task<RunResult> RunAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            return Loop.Shared.RunAsync(this, null, cancellationToken);
        }

        /// <summary>Run on <paramref name="loop"/>, in <paramref name="group"/>
        /// (null: a private group).</summary>
        public Task<RunResult> RunAsync(Loop loop, Group group = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            return (loop ?? Loop.Shared).RunAsync(this, group, cancellationToken);
        }

        public void Dispose() { handle.Dispose(); }
    }

    /// <summary>The outcome and captured output of a finished run. Pure data:
    /// nothing to dispose.</summary>
    public sealed partial class RunResult
    {
        public Outcome Outcome { get; private set; }
        /// <summary>The exit code when the program exited, else -1.</summary>
        public int ExitCode { get; private set; }
        /// <summary>The signal that killed it, else Signal.None.</summary>
        public Signal Signal { get; private set; }
        public int Pid { get; private set; }
        public Mechanism Mechanism { get; private set; }
        /// <summary>Exited with an accepted code and no Overflow.Error cap exceeded.</summary>
        public bool Success { get; private set; }
        public bool TimedOut { get { return Outcome == Outcome.TimedOut; } }
        public bool Cancelled { get { return Outcome == Outcome.Cancelled; } }
        public bool StdoutTruncated { get; private set; }
        public bool StderrTruncated { get; private set; }
        public bool Overflowed { get; private set; }
        public TimeSpan Duration { get; private set; }
        /// <summary>Bytes the program wrote to captured stdout (kept or not).</summary>
        public ulong StdoutBytesWritten { get; private set; }
        public ulong StderrBytesWritten { get; private set; }
        /// <summary>The captured stdout bytes.</summary>
        public byte[] Stdout { get; private set; }
        /// <summary>The captured stderr bytes.</summary>
        public byte[] Stderr { get; private set; }
        /// <summary>Stdout decoded as UTF-8.</summary>
        public string StdoutText { get { return Encoding.UTF8.GetString(Stdout); } }
        /// <summary>Stderr decoded as UTF-8.</summary>
        public string StderrText { get { return Encoding.UTF8.GetString(Stderr); } }

        /// <summary>What pk_result_check said: Ok, or the error Check() throws.</summary>
        public ErrorCode CheckCode { get; private set; }
        /// <summary>The library's message for a failed check ("" on success).</summary>
        public string CheckMessage { get; private set; }

        /// <summary>This result if the run succeeded, else throws
        /// CommandFailedException, CommandTimedOutException,
        /// CommandCancelledException or OutputOverflowException with the
        /// library's message (the program, its status, its last stderr line).</summary>
        public RunResult Check()
        {
            if (CheckCode != ErrorCode.Ok)
                throw ProcessKitException.Create((int)CheckCode, CheckMessage, this);
            return this;
        }

        /// <summary>Reads and frees a pk_result (on the calling thread, which
        /// also gets pk_result_check's message).</summary>
        internal static RunResult Take(IntPtr result)
        {
            var h = new ResultHandle();
            h.Adopt(result);
            using (h)
                return Read(result);
        }

        /// <summary>Reads a pk_result without freeing it (a callback's, valid during the call).</summary>
        internal static RunResult Read(IntPtr result)
        {
            {
                var info = new Native.pk_run_info();
                info.size = (uint)Marshal.SizeOf(typeof(Native.pk_run_info));
                Library.Check(Native.pk_result_info(result, ref info));
                var r = new RunResult
                {
                    Outcome = (Outcome)info.outcome,
                    ExitCode = info.exit_code,
                    Signal = (Signal)info.signal,
                    Pid = info.pid,
                    Mechanism = (Mechanism)info.mechanism,
                    Success = info.success != 0,
                    StdoutTruncated = info.stdout_truncated != 0,
                    StderrTruncated = info.stderr_truncated != 0,
                    Overflowed = info.overflowed != 0,
                    Duration = TimeSpan.FromTicks((long)info.duration_us * 10),
                    StdoutBytesWritten = info.stdout_bytes,
                    StderrBytesWritten = info.stderr_bytes,
                    Stdout = Output(result, StdStream.Stdout),
                    Stderr = Output(result, StdStream.Stderr),
                };
                int rc = Native.pk_result_check(result);
                r.CheckCode = rc < 0 ? (ErrorCode)rc : ErrorCode.Ok;
                r.CheckMessage = rc < 0 ? Library.LastError() : "";
                r.FailedStage = info.failed_stage;
                if (info.stage_count > 1)
                {
                    var stages = new RunResult[info.stage_count];
                    for (uint i = 0; i < info.stage_count; i++)
                    {
                        var si = new Native.pk_run_info();
                        si.size = (uint)Marshal.SizeOf(typeof(Native.pk_run_info));
                        Library.Check(Native.pk_result_stage_info(result, i, ref si));
                        stages[i] = new RunResult
                        {
                            Outcome = (Outcome)si.outcome, ExitCode = si.exit_code, Signal = (Signal)si.signal,
                            Pid = si.pid, Mechanism = (Mechanism)si.mechanism, Success = si.success != 0,
                            Duration = TimeSpan.FromTicks((long)si.duration_us * 10),
                            Stdout = new byte[0], Stderr = new byte[0], CheckMessage = "", FailedStage = -1,
                        };
                    }
                    r.Stages = stages;
                }
                return r;
            }
        }

        static byte[] Output(IntPtr result, StdStream stream)
        {
            IntPtr data;
            UIntPtr len;
            Library.Check(Native.pk_result_output(result, (int)stream, out data, out len));
            var bytes = new byte[(long)(ulong)len];
            if (bytes.Length > 0)
                Marshal.Copy(data, bytes, 0, bytes.Length);
            return bytes;
        }

        public override string ToString()
        {
            switch (Outcome)
            {
                case Outcome.Exited: return "exited " + ExitCode;
                case Outcome.Signalled: return "killed by signal " + Signal.SignalName();
                case Outcome.TimedOut: return "timed out";
                case Outcome.Cancelled: return "cancelled";
                default: return Outcome.ToString();
            }
        }
    }

    // -------------------------------------------------------------------- loop

    /// <summary>An event loop (pk_loop). RunAsync only queues; while runs are
    /// queued or in flight, one thread of the loop's own (named
    /// "processkit-loop") drives it: it starts each run (pk_loop_start),
    /// blocks in pk_loop_run_once and completes the tasks. So one thread
    /// drives the loop at a time (the library's rule) and runs on one loop
    /// proceed concurrently. A new run, a cancellation and Dispose reach that
    /// thread with pk_loop_wake; once nothing is queued or running it ends,
    /// so an idle loop holds no thread. Disposing kills everything still
    /// running on it.</summary>
    public sealed partial class Loop : IDisposable
    {
        internal sealed class Pending
        {
            public bool Keep;                      // Start(): the RunningProcess owns Process
            public TaskCompletionSource<bool> Started;
            public StdioSession Session;
            public bool SessionFinished;
            public ProcessHandle KeptProcess;      // never cleared: the RunningProcess's
            public Command Command;
            public object CallbackRoots;
            public Group Group;
            public CancellationToken Token;
            public CancellationTokenRegistration Registration;
            public TaskCompletionSource<RunResult> Completion;
            public ProcessHandle Process;  // set on the driver thread once started
            public bool CancelRequested;   // guarded by lock (this)
            public bool CommandRef;        // holds a reference on Command.Handle until started

            /// <summary>The command may be disposed once its run has started
            /// ("runs already started are not affected").</summary>
            public void ReleaseCommand()
            {
                if (CommandRef)
                {
                    CommandRef = false;
                    Command.Handle.DangerousRelease();
                }
            }
        }

        static readonly object sharedLock = new object();
        static Loop shared;

        readonly LoopHandle handle = new LoopHandle();
        // Guarded by lock (queued): runs not started yet, the thread driving
        // the loop (null while idle), and whether the loop takes no more runs.
        readonly Queue<Pending> queued = new Queue<Pending>();
        Thread driver;
        bool stopping;
        // The driver's alone: runs started and not finished.
        readonly List<Pending> running = new List<Pending>();
        int disposed;

        public Loop()
        {
            Library.Init();
            IntPtr p;
            Library.Check(Native.pk_loop_new(out p));
            handle.Adopt(p);
        }

        /// <summary>The process-wide loop RunAsync uses by default (created on
        /// first use, disposed at process exit).</summary>
        public static Loop Shared
        {
            get
            {
                lock (sharedLock)
                {
                    if (shared == null)
                    {
                        shared = new Loop();
                        AppDomain.CurrentDomain.ProcessExit += (s, e) => shared.Dispose();
                    }
                    return shared;
                }
            }
        }

        public LoopHandle Handle { get { return handle; } }

        /// <summary>Start <paramref name="command"/> on this loop, in
        /// <paramref name="group"/> or a private group. The task completes
        /// with the RunResult (a non-zero exit is data); cancelling the token
        /// kills the run's tree and cancels the task.</summary>
        public Task<RunResult> RunAsync(Command command, Group group = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            return Enqueue(command, group, cancellationToken, false).Completion.Task;
        }

        internal Pending Enqueue(Command command, Group group, CancellationToken cancellationToken, bool keep)
        {
            if (command == null)
                throw new ArgumentNullException("command");
            var pending = new Pending
            {
                Keep = keep,
                Started = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously),
                Command = command,
                CallbackRoots = command.CallbackRoots(),
                Group = group,
                Token = cancellationToken,
                Completion = new TaskCompletionSource<RunResult>(TaskCreationOptions.RunContinuationsAsynchronously),
            };
            if (cancellationToken.IsCancellationRequested)
            {
                pending.Completion.SetCanceled();
                pending.Started.SetCanceled();
                return pending;
            }
            // Keep the command's handle until the run has started, so that
            // `using (var c = new Command(...)) task = c.RunAsync();` works.
            bool added = false;
            try { command.Handle.DangerousAddRef(ref added); }
            catch (ObjectDisposedException) { added = false; }  // pk_loop_start reports PK_ERR_HANDLE
            pending.CommandRef = added;
            // Registered before the driver can see the run, so the driver's
            // Complete always disposes the registration.
            if (cancellationToken.CanBeCanceled)
                pending.Registration = cancellationToken.Register(() => RequestCancel(pending));
            bool started = false;
            lock (queued)
            {
                if (stopping)
                {
                    pending.Registration.Dispose();
                    pending.ReleaseCommand();
                    throw new ObjectDisposedException("Loop");
                }
                queued.Enqueue(pending);
                started = EnsureDriver();
            }
            if (!started)
                Wake();
            return pending;
        }

        /// <summary>Under lock (queued): start the driver thread if there is none.</summary>
        bool EnsureDriver()
        {
            if (driver != null)
                return false;
            driver = new Thread(Drive) { IsBackground = true, Name = "processkit-loop" };
            driver.Start();
            return true;
        }

        // Guarded by lock (queued): work that must run on the thread driving
        // the loop (readiness probes and waits drive it themselves).
        readonly Queue<Action> invokes = new Queue<Action>();

        internal bool OnDriver { get { lock (queued) return driver == Thread.CurrentThread; } }

        /// <summary>Runs <paramref name="f"/> on the driver thread (where the
        /// library lets loop-driving calls run) and waits for it.</summary>
        internal T Invoke<T>(Func<T> f)
        {
            if (OnDriver)
                return f();
            var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
            bool started;
            lock (queued)
            {
                if (stopping)
                    throw new ObjectDisposedException("Loop");
                invokes.Enqueue(() =>
                {
                    try { tcs.TrySetResult(f()); }
                    catch (Exception e) { tcs.TrySetException(e); }
                });
                started = EnsureDriver();
            }
            if (!started)
                Wake();
            try
            {
                return tcs.Task.Result;
            }
            catch (AggregateException ae)
            {
                ExceptionDispatchInfo.Capture(ae.InnerException).Throw();
                throw;
            }
        }

        void RunInvokes()
        {
            while (true)
            {
                Action a;
                lock (queued)
                {
                    if (invokes.Count == 0)
                        return;
                    a = invokes.Dequeue();
                }
                a();
            }
        }

        void RequestCancel(Pending p)
        {
            bool queuedStill;
            lock (p)
            {
                p.CancelRequested = true;
                queuedStill = p.Process == null;
                // pk_process_cancel may come from any thread, and wakes the loop.
                if (!queuedStill)
                    using (var u = p.Process.Borrow())
                        Native.pk_process_cancel(u.Ptr);
            }
            if (queuedStill)
                Wake();
        }

        /// <summary>pk_loop_wake, from any thread: the driver's
        /// pk_loop_run_once returns, or its next one does at once (the
        /// library keeps the wake), so none is lost. Once the handle is
        /// disposed it borrows as NULL and this does nothing.</summary>
        internal void Wake()
        {
            using (var u = handle.Borrow())
                Native.pk_loop_wake(u.Ptr);
        }

        void Drive()
        {
            Exception fatal = null;
            try
            {
                while (true)
                {
                    lock (queued)
                        if (stopping)
                            break;
                    StartQueued();
                    RunInvokes();
                    Harvest();
                    lock (queued)
                    {
                        if (stopping)
                            break;
                        if (queued.Count > 0 || invokes.Count > 0)
                            continue;
                        if (running.Count == 0)
                        {
                            // Idle: this thread ends; the next RunAsync starts another.
                            driver = null;
                            return;
                        }
                    }
                    // Until a run has news (output, exit, a deadline) or a wake.
                    using (var u = handle.Borrow())
                        Library.Check(Native.pk_loop_run_once(u.Ptr, -1));
                }
            }
            catch (Exception e)
            {
                fatal = e;
            }
            // Stopping (or broken): nothing more will be driven here.
            lock (queued)
            {
                stopping = true;
                while (queued.Count > 0)
                    running.Add(queued.Dequeue());
                while (invokes.Count > 0)
                    invokes.Dequeue()();  // each fails at once: the loop's handle is going
            }
            foreach (var p in running)
            {
                p.ReleaseCommand();
                lock (p)
                {
                    if (p.Process != null)
                        p.Process.Dispose();  // cancels and reaps a run still going
                    p.Process = null;
                }
                p.Registration.Dispose();
                if (p.Session != null)
                    p.Session.Abort();
                p.Started.TrySetException(fatal ?? new ObjectDisposedException("Loop"));
                if (fatal != null)
                    p.Completion.TrySetException(fatal);
                else
                    p.Completion.TrySetException(new ObjectDisposedException("Loop", "the loop was disposed before the run finished"));
            }
            running.Clear();
        }

        void StartQueued()
        {
            while (true)
            {
                Pending p;
                lock (queued)
                {
                    if (queued.Count == 0 || stopping)
                        return;
                    p = queued.Dequeue();
                }
                bool cancelled;
                lock (p) cancelled = p.CancelRequested;
                if (cancelled)
                {
                    p.Started.TrySetCanceled();
                    Complete(p, null, null, true);
                    continue;
                }
                try
                {
                    IntPtr proc;
                    int rc;
                    // The reference RunAsync took keeps the command's handle
                    // valid even if it was disposed since (a disposed handle
                    // refuses new borrows); without one, NULL gets the
                    // library's PK_ERR_HANDLE.
                    IntPtr cmd = p.CommandRef ? p.Command.Handle.DangerousGetHandle() : IntPtr.Zero;
                    using (var l = handle.Borrow())
                    using (var g = p.Group == null ? default(PkHandle.Use) : p.Group.Handle.Borrow())
                    {
                        // A NULL group would mean "a private group": never
                        // let a disposed Group turn into that.
                        if (p.Group != null && g.Ptr == IntPtr.Zero)
                            throw new InvalidHandleException("pk_loop_start: the Group was disposed");
                        // The stdio plan's fds are set on the command for this start only.
                        lock (p.Command.StdioLock)
                        {
                            p.Session = cmd == IntPtr.Zero ? null : p.Command.Prepare();
                            rc = Native.pk_loop_start(l.Ptr, cmd, g.Ptr, out proc);
                            if (rc < 0)
                            {
                                var msg = Library.LastError();
                                if (p.Session != null)
                                    p.Session.Abort();
                                throw ProcessKitException.Create(rc, msg, null);
                            }
                            if (p.Session != null)
                                p.Session.AfterStart();
                        }
                    }
                    p.ReleaseCommand();
                    var h = new ProcessHandle();
                    h.Adopt(proc);
                    lock (p)
                    {
                        p.Process = h;
                        p.KeptProcess = h;
                        if (p.CancelRequested)
                            using (var u = h.Borrow())
                                Native.pk_process_cancel(u.Ptr);
                    }
                    running.Add(p);
                    p.Started.TrySetResult(true);
                }
                catch (Exception e)
                {
                    p.Started.TrySetException(e);
                    Complete(p, null, e, false);
                }
            }
        }

        void Harvest()
        {
            for (int i = running.Count - 1; i >= 0; i--)
            {
                var p = running[i];
                int done;
                RunResult result = null;
                Exception error = null;
                try
                {
                    using (var u = p.Process.Borrow())
                    {
                        Library.Check(Native.pk_process_done(u.Ptr, out done));
                        if (done == 0)
                            continue;
                        IntPtr r;
                        Library.Check(Native.pk_process_result(u.Ptr, out r));
                        result = RunResult.Take(r);
                    }
                    error = p.Command.TakeCallbackError();
                }
                catch (Exception e)
                {
                    error = e;
                }
                running.RemoveAt(i);
                lock (p)
                {
                    if (!p.Keep)
                        p.Process.Dispose();
                    p.Process = null;
                }
                Complete(p, result, error, p.CancelRequested && p.Token.IsCancellationRequested);
            }
        }

        static void Complete(Pending p, RunResult result, Exception error, bool cancelled)
        {
            p.ReleaseCommand();
            p.Registration.Dispose();
            GC.KeepAlive(p.CallbackRoots);
            var session = p.Session;
            if (session != null && session.HasPumps && !p.SessionFinished)
            {
                // Output still draining into the caller's Streams: finish off this thread.
                p.SessionFinished = true;
                Task.Factory.StartNew(() =>
                {
                    try { session.Finish(); }
                    catch (Exception e) { if (error == null) error = e; }
                    Complete(p, result, error, cancelled);
                }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                return;
            }
            if (cancelled)
                p.Completion.TrySetCanceled(p.Token);
            else if (error != null)
                p.Completion.TrySetException(error);
            else
                p.Completion.TrySetResult(result);
        }

        /// <summary>Wake the loop's driver (pk_loop_wake) and wait for it to
        /// leave, kill and reap everything still running on the loop (those
        /// tasks fail with ObjectDisposedException), and free it. From a line
        /// callback (on the driver itself) it does not wait: the loop is freed
        /// once the callback has returned and the driver has left the library.</summary>
        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) != 0)
                return;
            Thread d;
            lock (queued)
            {
                stopping = true;
                d = driver;
            }
            if (d != null && d != Thread.CurrentThread)
            {
                Wake();
                d.Join();
            }
            // On the driver, inside pk_loop_run_once, its borrow holds the
            // handle: pk_loop_free runs when that call returns.
            handle.Dispose();
            lock (sharedLock)
                if (shared == this)
                    shared = null;
        }
    }
}
