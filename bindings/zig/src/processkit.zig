//! processkit for Zig: kill-on-free process groups and run-and-capture
//! commands over libprocesskit.so.1.
//!
//! A thin, hand-written layer over the generated declarations in `c.zig`
//! (also exported here as `processkit.c` for anything not wrapped).
//!
//! Errors: every failing library call becomes a member of `Error`
//! (`error.Invalid`, `error.NotFound`, `error.Handle`, ...). Zig errors carry
//! no payload, so the library's code and message (pk_last_error()) are copied
//! into thread-local storage at the moment the error is returned; read them
//! with `lastError()` before the next failing call on the same thread.
const std = @import("std");

pub const c = @import("c.zig");

/// Every error the library can report (one per pk_error code, plus
/// `error.Unknown` for a code from a newer library). `error.OutOfMemory` is
/// PK_ERR_NOMEM and also what allocations in this layer fail with.
pub const Error = c.Error;

const runner_mod = @import("runner.zig");
/// The runner seam and its test doubles (src/runner.zig, docs/replay.md).
pub const Runner = runner_mod.Runner;
pub const RealRunner = runner_mod.RealRunner;
pub const ScriptedRunner = runner_mod.ScriptedRunner;
pub const RecordReplayRunner = runner_mod.RecordReplayRunner;
pub const Invocation = runner_mod.Invocation;
pub const EnvChange = runner_mod.EnvChange;
pub const Reply = runner_mod.Reply;
pub const Interaction = runner_mod.Interaction;
pub const fakeResult = runner_mod.fakeResult;

pub const fd_t = std.posix.fd_t;
pub const pid_t = i32;

// ------------------------------------------------------------------------
// Errors

/// The library's code and message for the last error this layer returned on
/// the calling thread.
pub const ErrorInfo = struct {
    /// The negative pk_error code (0 if nothing failed yet).
    code: c_int,
    /// The error as a Zig error (error.Unknown if code is not a known one).
    err: Error,
    /// pk_last_error() as it was when the call failed ("" if none).
    message: []const u8,
};

const message_capacity = 1024;
threadlocal var last_code: c_int = 0;
threadlocal var last_len: usize = 0;
threadlocal var last_buf: [message_capacity]u8 = undefined;

fn recordMessage(code: c_int, message: []const u8) void {
    const n = @min(message.len, message_capacity);
    @memcpy(last_buf[0..n], message[0..n]);
    last_len = n;
    last_code = code;
}

/// Record a failure of this layer itself (not of a library call) and return
/// its error, so lastError() reads the same way for both.
fn fail(code: c_int, comptime fmt: []const u8, args: anytype) Error {
    const msg = std.fmt.bufPrint(&last_buf, fmt, args) catch last_buf[0..];
    last_len = msg.len;
    last_code = code;
    return c.errorFromCode(code);
}

/// Turn a library return code into `Error!void`, capturing pk_last_error().
fn checkRc(rc: c_int) Error!void {
    if (rc >= 0) return;
    const msg = if (c.pk_last_error()) |p| std.mem.span(p) else "";
    recordMessage(rc, msg);
    return c.errorFromCode(rc);
}

/// Return `err` with a message of your own in lastError(), as the
/// library's errors carry theirs (for a caller's own Runner, say).
pub fn raise(err: Error, comptime fmt: []const u8, args: anytype) Error {
    return fail(c.codeFromError(err), fmt, args);
}

/// The code and message of the last error this layer returned on this thread.
pub fn lastError() ErrorInfo {
    return .{
        .code = last_code,
        .err = if (last_code < 0) c.errorFromCode(last_code) else error.Unknown,
        .message = last_buf[0..last_len],
    };
}

/// The pk_error code behind a Zig error.
pub fn errorCode(err: Error) c_int {
    return c.codeFromError(err);
}

/// The library's short description of an error ("invalid argument", ...).
pub fn strerror(err: Error) []const u8 {
    return if (c.pk_strerror(c.codeFromError(err))) |p| std.mem.span(p) else "unknown error";
}

/// The library's version as "major.minor.patch".
pub fn version() []const u8 {
    return if (c.pk_version_string()) |p| std.mem.span(p) else "";
}

// ------------------------------------------------------------------------
// Enums
//
// Every enum's name() is the library's stable name of the value (the C
// member's name without its prefix, lower case, `-` for `_`: "cgroup-v2",
// "timed-out"), from the tables c.zig generates from the ABI manifest
// (c.pk_mechanism_str, ...), and "unknown" for a value from a newer library.

/// The stable name of `value` from a generated table, or "unknown".
fn stableName(comptime table: fn (i64) ?[:0]const u8, value: i32) []const u8 {
    return table(value) orelse "unknown";
}

/// Which backend a group should use.
pub const Backend = enum(i32) {
    auto = c.PK_BACKEND_AUTO,
    cgroup_v2 = c.PK_BACKEND_CGROUP_V2,
    process_group = c.PK_BACKEND_PROCESS_GROUP,
    job_object = c.PK_BACKEND_JOB_OBJECT,
    _,

    /// "auto", "cgroup-v2", "process-group", "job-object".
    pub fn name(self: Backend) []const u8 {
        return stableName(c.pk_backend_str, @backingInt(self));
    }
};

/// How a group's processes are held, weakest first.
pub const Mechanism = enum(i32) {
    none = c.PK_MECHANISM_NONE,
    process_group = c.PK_MECHANISM_PROCESS_GROUP,
    cgroup_v2 = c.PK_MECHANISM_CGROUP_V2,
    job_object = c.PK_MECHANISM_JOB_OBJECT,
    _,

    /// The library's stable name (what pk_mechanism_name says): "cgroup-v2",
    /// "process-group", "job-object", "none".
    pub fn name(self: Mechanism) []const u8 {
        return stableName(c.pk_mechanism_str, @backingInt(self));
    }
};

/// How a run ended.
pub const Outcome = enum(i32) {
    running = c.PK_OUTCOME_RUNNING,
    exited = c.PK_OUTCOME_EXITED,
    signalled = c.PK_OUTCOME_SIGNALLED,
    timed_out = c.PK_OUTCOME_TIMED_OUT,
    cancelled = c.PK_OUTCOME_CANCELLED,
    /// It ended, but the host reaped it on a kernel that kept no status.
    status_lost = c.PK_OUTCOME_STATUS_LOST,
    _,

    /// "running", "exited", "signalled", "timed-out", "cancelled", "status-lost".
    pub fn name(self: Outcome) []const u8 {
        return stableName(c.pk_outcome_str, @backingInt(self));
    }
};

/// A child's output stream.
pub const Stream = enum(i32) {
    stdout = c.PK_STREAM_STDOUT,
    stderr = c.PK_STREAM_STDERR,
    _,

    /// "stdout", "stderr".
    pub fn name(self: Stream) []const u8 {
        return stableName(c.pk_stream_str, @backingInt(self));
    }
};

/// What a capped stream keeps when it overflows.
pub const Overflow = enum(i32) {
    keep_head = c.PK_OVERFLOW_KEEP_HEAD,
    keep_tail = c.PK_OVERFLOW_KEEP_TAIL,
    /// Keep the head and fail the run's check with error.Overflow.
    fail = c.PK_OVERFLOW_ERROR,

    /// "keep-head", "keep-tail", and "error" for .fail (PK_OVERFLOW_ERROR).
    pub fn name(self: Overflow) []const u8 {
        return stableName(c.pk_overflow_str, @backingInt(self));
    }
};

/// What a readiness probe waited for (Readiness.kind).
pub const ReadyKind = enum(i32) {
    /// No probe has run on the process.
    none = c.PK_READY_NONE,
    /// Process.waitForLine.
    line = c.PK_READY_LINE,
    /// Process.waitForPort.
    port = c.PK_READY_PORT,
    /// pk_process_wait_for (a caller's predicate, through `c`).
    check = c.PK_READY_CHECK,
    _,

    /// "none", "line", "port", "check".
    pub fn name(self: ReadyKind) []const u8 {
        return stableName(c.pk_ready_kind_str, @backingInt(self));
    }
};

/// How a readiness probe ended (Readiness.outcome).
pub const ReadyOutcome = enum(i32) {
    /// No probe has ended yet.
    pending = c.PK_READY_PENDING,
    /// The condition held.
    met = c.PK_READY_MET,
    /// Its timeout passed first (error.NotReady).
    timed_out = c.PK_READY_TIMED_OUT,
    /// The run finished first (error.NotReady).
    run_ended = c.PK_READY_RUN_ENDED,
    /// Loop.wake ended the wait (error.Cancelled).
    woken = c.PK_READY_WOKEN,
    /// Another error ended it.
    failed = c.PK_READY_FAILED,
    _,

    /// "pending", "met", "timed-out", "run-ended", "woken", "failed".
    pub fn name(self: ReadyOutcome) []const u8 {
        return stableName(c.pk_ready_outcome_str, @backingInt(self));
    }
};

/// Capability bits of a mechanism (Containment.features).
pub const Feature = c.pk_feature;

// ------------------------------------------------------------------------
// Signals and durations

/// The number std.posix.SIG gives `name` on this target, else `fallback`
/// (the Linux number), so the enum also compiles where SIG is not an enum.
fn sigNum(comptime name: []const u8, comptime fallback: i32) i32 {
    const S = std.posix.SIG;
    if (@TypeOf(S) == type and @typeInfo(S) == .@"enum" and @hasField(S, name))
        return @intCast(@backingInt(@field(S, name)));
    return fallback;
}

/// A signal, typed: `.term`, `.kill`, `.int`, ... Every API that sends or
/// reports a signal takes or gives one. A number this enum does not name
/// (a real-time signal) is still a value: `Signal.fromNumber(40)`.
pub const Signal = enum(i32) {
    hup = sigNum("HUP", 1),
    int = sigNum("INT", 2),
    quit = sigNum("QUIT", 3),
    ill = sigNum("ILL", 4),
    abrt = sigNum("ABRT", 6),
    kill = sigNum("KILL", 9),
    usr1 = sigNum("USR1", 10),
    segv = sigNum("SEGV", 11),
    usr2 = sigNum("USR2", 12),
    pipe = sigNum("PIPE", 13),
    alrm = sigNum("ALRM", 14),
    term = sigNum("TERM", 15),
    chld = sigNum("CHLD", 17),
    cont = sigNum("CONT", 18),
    stop = sigNum("STOP", 19),
    tstp = sigNum("TSTP", 20),
    winch = sigNum("WINCH", 28),
    _,

    /// The OS number of the signal.
    pub fn num(self: Signal) i32 {
        return @backingInt(self);
    }

    pub fn fromNumber(n: i32) Signal {
        return @fromBackingInt(n);
    }

    /// "SIGTERM", "SIGKILL", ...; "unknown" for a number without a name here.
    pub fn name(self: Signal) []const u8 {
        const info = @typeInfo(Signal).@"enum";
        inline for (info.field_names, info.field_values) |n, v| {
            if (v == @backingInt(self)) return comptime upperSig(n);
        }
        return "unknown";
    }

    fn upperSig(comptime lower: []const u8) []const u8 {
        comptime var buf: [lower.len + 3]u8 = undefined;
        @memcpy(buf[0..3], "SIG");
        inline for (lower, 0..) |ch, i| buf[3 + i] = std.ascii.toUpper(ch);
        const out = buf;
        return &out;
    }
};

/// A parent-death signal for one spawn: none at all, or a signal.
pub const PdeathSignal = union(enum) {
    none,
    signal: Signal,
};

/// Times are std.Io.Duration (nanoseconds); the library counts milliseconds.
pub const Duration = std.Io.Duration;

/// A duration as the library's milliseconds: rounded up (1 ns waits 1 ms),
/// negative as 0, clamped to maxInt(u32).
fn durationMs(d: Duration) u32 {
    if (d.nanoseconds <= 0) return 0;
    const ms = @divFloor(d.nanoseconds + std.time.ns_per_ms - 1, std.time.ns_per_ms);
    return @intCast(@min(ms, std.math.maxInt(u32)));
}

/// An optional duration as a library timeout: null = -1 (forever).
fn durationTimeout(d: ?Duration) i32 {
    const t = d orelse return -1;
    return @intCast(@min(durationMs(t), std.math.maxInt(i32)));
}

/// What a timeout sends, and how long it waits before SIGKILL.
pub const TimeoutOptions = struct {
    signal: Signal = .term,
    grace: Duration = .fromSeconds(1),
};

/// A pseudo-terminal's size (Command.pty, Process.resize).
pub const PtySize = struct {
    rows: u16 = 24,
    cols: u16 = 80,
};

// ------------------------------------------------------------------------
// Retry and supervision

/// How Command.runRetry retries.
pub const RetryOptions = struct {
    /// Runs at most, the first included.
    max_attempts: u32 = 3,
    /// Delay before the second attempt; it grows by `multiplier` up to `max_delay`.
    initial_delay: Duration = .fromMilliseconds(100),
    max_delay: Duration = .fromSeconds(30),
    multiplier: f64 = 2.0,
    /// Each delay uniformly random in [0, delay] ("full jitter").
    jitter: bool = true,

    fn toC(self: RetryOptions) c.pk_retry_options {
        return .{
            .max_attempts = self.max_attempts,
            .initial_delay_ms = durationMs(self.initial_delay),
            .max_delay_ms = durationMs(self.max_delay),
            .multiplier = self.multiplier,
            .jitter = @intFromBool(self.jitter),
        };
    }
};

/// A finished attempt, as a retry classifier sees it.
pub const Attempt = struct {
    /// Counts from 1.
    number: u32,
    outcome: Outcome,
    exit_code: ?i32,
    signal: ?Signal,
    success: bool,
};

/// When supervision restarts the command.
pub const Restart = enum(i32) {
    never = c.PK_RESTART_NEVER,
    on_failure = c.PK_RESTART_ON_FAILURE,
    always = c.PK_RESTART_ALWAYS,
    _,

    /// "never", "on-failure", "always".
    pub fn name(self: Restart) []const u8 {
        return stableName(c.pk_restart_str, @backingInt(self));
    }
};

/// What the storm guard does when restarts come too fast.
pub const StormAction = enum(i32) {
    give_up = c.PK_STORM_GIVE_UP,
    pause = c.PK_STORM_PAUSE,
    _,

    /// "give-up", "pause".
    pub fn name(self: StormAction) []const u8 {
        return stableName(c.pk_storm_action_str, @backingInt(self));
    }
};

/// A supervised command's lifecycle events, and why supervision stopped.
pub const SuperviseEvent = enum(i32) {
    none = 0,
    started = c.PK_SUPERVISE_STARTED,
    exited = c.PK_SUPERVISE_EXITED,
    restarting = c.PK_SUPERVISE_RESTARTING,
    storm_pause = c.PK_SUPERVISE_STORM_PAUSE,
    gave_up = c.PK_SUPERVISE_GAVE_UP,
    stopped = c.PK_SUPERVISE_STOPPED,
    _,

    /// "started", "exited", "restarting", "storm-pause", "gave-up", "stopped".
    pub fn name(self: SuperviseEvent) []const u8 {
        if (self == .none) return "none";
        return stableName(c.pk_supervise_event_str, @backingInt(self));
    }
};

/// How Command.supervise keeps a command running.
pub const SuperviseOptions = struct {
    restart: Restart = .on_failure,
    /// 0 = unlimited.
    max_restarts: u32 = 0,
    backoff_initial: Duration = .fromMilliseconds(200),
    backoff_max: Duration = .fromSeconds(30),
    backoff_multiplier: f64 = 2.0,
    /// Delays scaled by a random factor in [0.5, 1.5).
    jitter: bool = true,
    /// Storm guard: this many restarts within `storm_window` trip it (0 = off).
    storm_restarts: u32 = 0,
    storm_window: Duration = .zero,
    storm_action: StormAction = .give_up,
    storm_pause: Duration = .zero,

    fn toC(self: SuperviseOptions) c.pk_supervise_options {
        return .{
            .restart = @backingInt(self.restart),
            .max_restarts = self.max_restarts,
            .backoff_initial_ms = durationMs(self.backoff_initial),
            .backoff_max_ms = durationMs(self.backoff_max),
            .jitter = @intFromBool(self.jitter),
            .backoff_multiplier = self.backoff_multiplier,
            .storm_restarts = self.storm_restarts,
            .storm_window_ms = durationMs(self.storm_window),
            .storm_action = @backingInt(self.storm_action),
            .storm_pause_ms = durationMs(self.storm_pause),
        };
    }
};

/// What supervision did.
pub const SuperviseReport = struct {
    /// How many times the command started.
    runs: u32,
    restarts: u32,
    storm_pauses: u32,
    /// .stopped, .gave_up, or .exited when the policy was satisfied.
    stop_reason: SuperviseEvent,
};

/// The status of one stage of a pipeline (Result.stages).
pub const StageInfo = struct {
    outcome: Outcome,
    exit_code: ?i32,
    signal: ?Signal,
    pid: pid_t,
    success: bool,
    duration_us: u64,

    fn fromC(info: c.pk_run_info) StageInfo {
        const outcome: Outcome = @fromBackingInt(info.outcome);
        return .{
            .outcome = outcome,
            .exit_code = if (outcome == .exited) info.exit_code else null,
            .signal = if (info.signal != 0) @fromBackingInt(info.signal) else null,
            .pid = info.pid,
            .success = info.success != 0,
            .duration_us = info.duration_us,
        };
    }
};

// ------------------------------------------------------------------------
// Groups

pub const GroupOptions = struct {
    backend: Backend = .auto,
    /// Refuse (error.Unavailable) anything weaker.
    min_mechanism: Mechanism = .none,
    /// Default for spawns: the signal a direct child gets when its spawning thread dies; null = none.
    parent_death_signal: ?Signal = null,
    memory_max: u64 = 0,
    pids_max: u64 = 0,
    cpu_max: f64 = 0,
    /// Kill the tree when this process dies without freeing the group (a
    /// keeper process does it on cgroup v2). Needs a library whose
    /// pk_group_options has `flags` (PK_GROUP_NO_OWNER_DEATH_KILL).
    owner_death_kill: bool = true,

    fn toC(self: GroupOptions) c.pk_group_options {
        var raw: c.pk_group_options = .{
            .backend = @backingInt(self.backend),
            .min_mechanism = @backingInt(self.min_mechanism),
            .parent_death_signal = if (self.parent_death_signal) |s| s.num() else 0,
            .memory_max = self.memory_max,
            .pids_max = self.pids_max,
            .cpu_max = self.cpu_max,
        };
        if (comptime @hasField(c.pk_group_options, "flags") and @hasDecl(c, "PK_GROUP_NO_OWNER_DEATH_KILL")) {
            if (!self.owner_death_kill) raw.flags |= c.PK_GROUP_NO_OWNER_DEATH_KILL;
        }
        return raw;
    }
};

/// What holds a group (or what a backend would get on this host).
pub const Containment = struct {
    raw: c.pk_containment,

    pub fn mechanism(self: *const Containment) Mechanism {
        return @fromBackingInt(self.raw.mechanism);
    }
    pub fn has(self: *const Containment, feature: u32) bool {
        return self.raw.features & feature == feature;
    }
    /// Why a stronger mechanism was not used ("" if none was wanted).
    pub fn reason(self: *const Containment) []const u8 {
        return std.mem.sliceTo(&self.raw.reason, 0);
    }
    pub fn cgroupMount(self: *const Containment) []const u8 {
        return std.mem.sliceTo(&self.raw.cgroup_mount, 0);
    }
    /// The group's cgroup leaf directory, or "".
    pub fn cgroupPath(self: *const Containment) []const u8 {
        return std.mem.sliceTo(&self.raw.cgroup_path, 0);
    }
};

/// What a group would get on this host with `backend`, creating nothing.
pub fn probe(backend: Backend) Error!Containment {
    var out: Containment = .{ .raw = .{} };
    try checkRc(c.pk_host_probe(@backingInt(backend), &out.raw));
    return out;
}

/// Where a spawned child's standard stream comes from or goes to.
pub const Stdio = union(enum) {
    inherit,
    /// /dev/null
    devnull,
    /// A caller fd (not closed).
    fd: fd_t,
    /// An open std.Io.File (not closed).
    file: std.Io.File,

    fn toC(self: Stdio) i32 {
        return switch (self) {
            .inherit => c.PK_STDIO_INHERIT,
            .devnull => c.PK_STDIO_NULL,
            .fd => |f| f,
            .file => |f| f.handle,
        };
    }
};

pub const SpawnOptions = struct {
    /// The file to run; null = argv[0] (searched in PATH without a slash).
    program: ?[*:0]const u8 = null,
    /// The child's whole environment ("K=V"); null = the caller's.
    env: ?[*:null]const ?[*:0]const u8 = null,
    cwd: ?[*:0]const u8 = null,
    stdin: Stdio = .inherit,
    stdout: Stdio = .inherit,
    stderr: Stdio = .inherit,
    new_session: bool = false,
    no_path_search: bool = false,
    /// null = the group's default; .none = none.
    parent_death_signal: ?PdeathSignal = null,
};

pub const ExitStatus = union(enum) {
    exited: i32,
    signalled: struct { signal: Signal, core_dumped: bool },

    fn fromC(s: c.pk_exit_status) ExitStatus {
        return if (s.kind == c.PK_EXIT_SIGNAL)
            .{ .signalled = .{ .signal = @fromBackingInt(s.signal), .core_dumped = s.core_dumped != 0 } }
        else
            .{ .exited = s.code };
    }
};

pub const GroupStats = struct {
    live_processes: u32,
    /// null when the mechanism cannot tell.
    cpu_time_us: ?u64,
    peak_memory_bytes: ?u64,
};

pub const ShutdownOptions = struct {
    signal: Signal = .term,
    grace_ms: u32 = 2000,
    /// SIGKILL what is left after the grace (false: spare survivors, also at deinit).
    escalate: bool = true,
};

pub const ShutdownReport = struct {
    members_before: u32,
    members_after: u32,
    drained: bool,
    escalated: bool,
    elapsed_us: u64,
};

/// A kill-on-free container: everything spawned into it, and everything
/// those processes spawn, dies at `deinit()`.
///
///     var group = try processkit.Group.init(.{});
///     defer group.deinit();
///     var child = try group.spawn(&.{ "sleep", "10" });
pub const Group = struct {
    handle: *c.pk_group,

    pub fn init(opts: GroupOptions) Error!Group {
        const raw = opts.toC();
        var out: ?*c.pk_group = null;
        try checkRc(c.pk_group_create(&raw, &out));
        return .{ .handle = out.? };
    }

    /// SIGKILL the whole tree, reap the direct children and remove what the
    /// backend created (the cgroup leaf).
    pub fn deinit(self: *Group) void {
        _ = c.pk_group_free(self.handle);
        self.* = undefined;
    }

    /// Start `argv` (argv[0] searched in PATH) inside the group, with stdio inherited.
    pub fn spawn(self: Group, argv: []const [:0]const u8) Error!Child {
        return self.spawnWith(argv, .{});
    }

    pub fn spawnWith(self: Group, argv: []const [:0]const u8, opts: SpawnOptions) Error!Child {
        var buf: [32]?[*:0]const u8 = undefined;
        var bfa: std.heap.BufferFirstAllocator = .init(@ptrCast(&buf), std.heap.c_allocator);
        const alloc = bfa.allocator();
        const ptrs = try alloc.allocSentinel(?[*:0]const u8, argv.len, null);
        defer alloc.free(ptrs);
        for (argv, 0..) |a, i| ptrs[i] = a.ptr;
        var flags: u32 = 0;
        if (opts.new_session) flags |= c.PK_SPAWN_NEW_SESSION;
        if (opts.no_path_search) flags |= c.PK_SPAWN_NO_PATH_SEARCH;
        const raw: c.pk_spawn_options = .{
            .flags = flags,
            .program = opts.program,
            .argv = ptrs.ptr,
            .envp = if (opts.env) |e| e else null,
            .cwd = opts.cwd,
            .stdin_fd = opts.stdin.toC(),
            .stdout_fd = opts.stdout.toC(),
            .stderr_fd = opts.stderr.toC(),
            .parent_death_signal = if (opts.parent_death_signal) |p| switch (p) {
                .none => 0,
                .signal => |sg| sg.num(),
            } else -1,
        };
        var out: ?*c.pk_child = null;
        try checkRc(c.pk_group_spawn(self.handle, &raw, &out));
        return .{ .handle = out.? };
    }

    /// Bring an existing child of this process into the group.
    pub fn adopt(self: Group, pid: pid_t) Error!void {
        try checkRc(c.pk_group_adopt(self.handle, pid));
    }

    /// The mechanism holding this group.
    pub fn mechanism(self: Group) Error!Mechanism {
        const info = try self.containment();
        return info.mechanism();
    }

    /// What holds this group, its features, and why nothing stronger does.
    pub fn containment(self: Group) Error!Containment {
        var out: Containment = .{ .raw = .{} };
        try checkRc(c.pk_group_containment(self.handle, &out.raw));
        return out;
    }

    pub fn signal(self: Group, sig: Signal) Error!void {
        try checkRc(c.pk_group_signal(self.handle, sig.num()));
    }

    /// SIGKILL the whole tree; the group stays usable.
    pub fn kill(self: Group) Error!void {
        try checkRc(c.pk_group_kill(self.handle));
    }

    /// Stop every process (cgroup freeze, or SIGSTOP).
    pub fn suspendAll(self: Group) Error!void {
        try checkRc(c.pk_group_suspend(self.handle));
    }

    pub fn resumeAll(self: Group) Error!void {
        try checkRc(c.pk_group_resume(self.handle));
    }

    /// The pids in the group (caller frees).
    pub fn members(self: Group, allocator: std.mem.Allocator) Error![]pid_t {
        var count: usize = 0;
        try checkRc(c.pk_group_members(self.handle, null, 0, &count));
        while (true) {
            const buf = try allocator.alloc(pid_t, count + 8);
            var found: usize = 0;
            checkRc(c.pk_group_members(self.handle, buf.ptr, buf.len, &found)) catch |e| {
                allocator.free(buf);
                return e;
            };
            if (found <= buf.len) {
                if (allocator.resize(buf, found)) return buf[0..found];
                defer allocator.free(buf);
                return allocator.dupe(pid_t, buf[0..found]);
            }
            allocator.free(buf);
            count = found;
        }
    }

    pub fn stats(self: Group) Error!GroupStats {
        var raw: c.pk_group_stats = .{};
        try checkRc(c.pk_group_stats_get(self.handle, &raw));
        return .{
            .live_processes = raw.live_processes,
            .cpu_time_us = if (raw.cpu_time_us < 0) null else @intCast(raw.cpu_time_us),
            .peak_memory_bytes = if (raw.peak_memory_bytes < 0) null else @intCast(raw.peak_memory_bytes),
        };
    }

    /// Signal, wait up to the grace for the tree to drain, then SIGKILL the rest if escalating.
    pub fn shutdown(self: Group, opts: ShutdownOptions) Error!ShutdownReport {
        const raw: c.pk_shutdown_options = .{
            .signal = opts.signal.num(),
            .grace_ms = opts.grace_ms,
            .escalate = @intFromBool(opts.escalate),
        };
        var rep: c.pk_shutdown_report = .{};
        try checkRc(c.pk_group_shutdown(self.handle, &raw, &rep));
        return .{
            .members_before = rep.members_before,
            .members_after = rep.members_after,
            .drained = rep.drained != 0,
            .escalated = rep.escalated != 0,
            .elapsed_us = rep.elapsed_us,
        };
    }
};

/// A direct child spawned into a Group. `deinit` releases the handle only:
/// the process stays in its group.
pub const Child = struct {
    handle: *c.pk_child,

    pub fn deinit(self: *Child) void {
        _ = c.pk_child_free(self.handle);
        self.* = undefined;
    }

    pub fn pid(self: Child) Error!pid_t {
        var p: i32 = 0;
        try checkRc(c.pk_child_pid(self.handle, &p));
        return p;
    }

    /// Readable when the child exits (its pidfd); owned by the handle.
    pub fn pollFd(self: Child) Error!fd_t {
        var f: c_int = -1;
        try checkRc(c.pk_child_pollfd(self.handle, &f));
        return f;
    }

    /// Wait for the child to end and reap it (null = forever); error.Timeout if it is still running.
    pub fn wait(self: Child, timeout_ms: ?u31) Error!ExitStatus {
        var st: c.pk_exit_status = .{};
        try checkRc(c.pk_child_wait(self.handle, if (timeout_ms) |t| t else -1, &st));
        return ExitStatus.fromC(st);
    }

    /// The status if the child has ended, else null (never blocks).
    pub fn tryWait(self: Child) Error!?ExitStatus {
        var st: c.pk_exit_status = .{};
        const rc = c.pk_child_wait(self.handle, 0, &st);
        if (rc == c.PK_ERR_TIMEOUT) return null;
        try checkRc(rc);
        return ExitStatus.fromC(st);
    }

    pub fn signal(self: Child, sig: Signal) Error!void {
        try checkRc(c.pk_child_signal(self.handle, sig.num()));
    }
};

// ------------------------------------------------------------------------
// Commands

/// Where a command's stdout or stderr goes.
pub const Output = union(enum) {
    /// Read into the Result (default).
    capture,
    inherit,
    /// /dev/null
    discard,
    fd: fd_t,
    /// An open std.Io.File (not closed), e.g. a log file.
    file: std.Io.File,
    /// stderr only: into the same pipe as stdout.
    merge,
};

/// A cancellation token: trigger it from any thread to kill every run watching it.
pub const CancelToken = struct {
    handle: *c.pk_cancel,

    pub fn init() Error!CancelToken {
        var out: ?*c.pk_cancel = null;
        try checkRc(c.pk_cancel_new(&out));
        return .{ .handle = out.? };
    }
    pub fn deinit(self: *CancelToken) void {
        _ = c.pk_cancel_free(self.handle);
        self.* = undefined;
    }
    pub fn trigger(self: CancelToken) Error!void {
        try checkRc(c.pk_cancel_trigger(self.handle));
    }
};

/// What to run and how; reusable. `run()` captures stdout and stderr.
///
///     var cmd = try processkit.Command.init("sh");
///     defer cmd.deinit();
///     try cmd.args(&.{ "-c", "echo hi" });
///     var res = try cmd.run(allocator);
///     defer res.deinit();
pub const Command = struct {
    handle: *c.pk_command,
    /// The PK_COMMAND_* bits set so far (newSession, createNoWindow).
    flag_bits: u32 = 0,

    /// A command for `program` (searched in PATH without a slash); argv[0] is `program`.
    pub fn init(program: [:0]const u8) Error!Command {
        var out: ?*c.pk_command = null;
        try checkRc(c.pk_command_new(program.ptr, &out));
        return .{ .handle = out.? };
    }

    /// A command for argv[0] with the rest of `argv` as its arguments.
    pub fn initArgv(argv: []const [:0]const u8) Error!Command {
        if (argv.len == 0) return fail(c.PK_ERR_INVALID, "Command.initArgv: argv is empty", .{});
        var cmd = try init(argv[0]);
        errdefer cmd.deinit();
        try cmd.args(argv[1..]);
        return cmd;
    }

    pub fn deinit(self: *Command) void {
        _ = c.pk_command_free(self.handle);
        self.* = undefined;
    }

    pub fn arg(self: Command, a: [:0]const u8) Error!void {
        try checkRc(c.pk_command_arg(self.handle, a.ptr));
    }

    pub fn args(self: Command, list: []const [:0]const u8) Error!void {
        for (list) |a| try self.arg(a);
    }

    pub fn env(self: Command, key: [:0]const u8, value: [:0]const u8) Error!void {
        try checkRc(c.pk_command_env(self.handle, key.ptr, value.ptr));
    }

    pub fn envUnset(self: Command, key: [:0]const u8) Error!void {
        try checkRc(c.pk_command_env_unset(self.handle, key.ptr));
    }

    /// Start from an empty environment (later env/envUnset still apply).
    pub fn envClear(self: Command) Error!void {
        try checkRc(c.pk_command_env_clear(self.handle));
    }

    pub fn cwd(self: Command, dir: ?[:0]const u8) Error!void {
        try checkRc(c.pk_command_cwd(self.handle, if (dir) |d| d.ptr else null));
    }

    /// The child calls setsid() (PK_COMMAND_NEW_SESSION).
    pub fn newSession(self: *Command, on: bool) Error!void {
        try self.setFlag(c.PK_COMMAND_NEW_SESSION, on);
    }

    /// Windows: start the child with CREATE_NO_WINDOW (PK_COMMAND_NO_WINDOW),
    /// so a console program opens no console window; elsewhere no effect.
    pub fn createNoWindow(self: *Command, on: bool) Error!void {
        try self.setFlag(c.PK_COMMAND_NO_WINDOW, on);
    }

    // pk_command_flags sets every bit at once, so the Command keeps them.
    fn setFlag(self: *Command, bit: u32, on: bool) Error!void {
        const next = if (on) self.flag_bits | bit else self.flag_bits & ~bit;
        try checkRc(c.pk_command_flags(self.handle, next));
        self.flag_bits = next;
    }

    /// The signal the child gets when its spawning thread dies (Linux); null = none.
    pub fn parentDeathSignal(self: Command, sig: ?Signal) Error!void {
        try checkRc(c.pk_command_parent_death_signal(self.handle, if (sig) |s| s.num() else 0));
    }

    pub fn stdinNull(self: Command) Error!void {
        try checkRc(c.pk_command_stdin_null(self.handle));
    }
    pub fn stdinInherit(self: Command) Error!void {
        try checkRc(c.pk_command_stdin_inherit(self.handle));
    }
    /// These bytes (copied), then end of file.
    pub fn stdinBytes(self: Command, data: []const u8) Error!void {
        try checkRc(c.pk_command_stdin_bytes(self.handle, data.ptr, data.len));
    }
    pub fn stdinFd(self: Command, fd: fd_t) Error!void {
        try checkRc(c.pk_command_stdin_fd(self.handle, fd));
    }
    pub fn stdinFile(self: Command, path: [:0]const u8) Error!void {
        try checkRc(c.pk_command_stdin_file(self.handle, path.ptr));
    }
    /// A pipe written with Process.write() and closed with Process.closeStdin().
    pub fn stdinPipe(self: Command) Error!void {
        try checkRc(c.pk_command_stdin_pipe(self.handle));
    }

    pub fn output(self: Command, stream: Stream, where: Output) Error!void {
        const mode: i32, const fd: c_int = switch (where) {
            .capture => .{ c.PK_OUTPUT_CAPTURE, -1 },
            .inherit => .{ c.PK_OUTPUT_INHERIT, -1 },
            .discard => .{ c.PK_OUTPUT_NULL, -1 },
            .fd => |f| .{ c.PK_OUTPUT_FD, f },
            .file => |f| .{ c.PK_OUTPUT_FD, f.handle },
            .merge => .{ c.PK_OUTPUT_MERGE, -1 },
        };
        try checkRc(c.pk_command_output(self.handle, @backingInt(stream), mode, fd));
    }

    /// Cap a captured stream at `max_bytes` (0 = no cap).
    pub fn outputLimit(self: Command, stream: Stream, max_bytes: u64, policy: Overflow) Error!void {
        try checkRc(c.pk_command_output_limit(self.handle, @backingInt(stream), max_bytes, @backingInt(policy)));
    }

    /// Call `callback(ctx, stream, line)` for every line of `stream`, on the
    /// thread driving the run (inside run()/Loop); `line` is valid only
    /// during the call. `ctx` is a pointer that must outlive the runs.
    pub fn onLine(
        self: Command,
        stream: Stream,
        ctx: anytype,
        comptime callback: fn (@TypeOf(ctx), Stream, []const u8) void,
    ) Error!void {
        try checkRc(c.pk_command_on_line(self.handle, @backingInt(stream), Trampoline(@TypeOf(ctx), callback).call, @ptrCast(@constCast(ctx))));
    }

    /// Like onLine, for both streams in arrival order.
    pub fn onEvent(
        self: Command,
        ctx: anytype,
        comptime callback: fn (@TypeOf(ctx), Stream, []const u8) void,
    ) Error!void {
        try checkRc(c.pk_command_on_event(self.handle, Trampoline(@TypeOf(ctx), callback).call, @ptrCast(@constCast(ctx))));
    }

    /// Bound each run: after `timeout_ms` SIGTERM the tree, wait 1 s, then SIGKILL it.
    pub fn timeout(self: Command, timeout_ms: u32) Error!void {
        try self.timeoutWith(timeout_ms, null, 1000);
    }

    /// Bound each run: after `timeout_ms` send `sig` (null = SIGTERM), wait `grace_ms`, then SIGKILL.
    pub fn timeoutWith(self: Command, timeout_ms: u32, sig: ?Signal, grace_ms: u32) Error!void {
        try checkRc(c.pk_command_timeout(self.handle, timeout_ms, if (sig) |s| s.num() else 0, grace_ms));
    }

    /// Bound each run by a std.Io.Duration: after `after`, `opts.signal` to
    /// the tree, wait `opts.grace`, then SIGKILL. A zero duration: no timeout.
    pub fn timeoutDuration(self: Command, after: Duration, opts: TimeoutOptions) Error!void {
        try checkRc(c.pk_command_timeout(self.handle, durationMs(after), opts.signal.num(), durationMs(opts.grace)));
    }

    /// Exit codes that count as success (empty: just 0).
    pub fn okCodes(self: Command, codes: []const i32) Error!void {
        try checkRc(c.pk_command_ok_codes(self.handle, codes.ptr, codes.len));
    }

    /// Options of the private group each run gets.
    pub fn groupOptions(self: Command, opts: GroupOptions) Error!void {
        const raw = opts.toC();
        try checkRc(c.pk_command_group_options(self.handle, &raw));
    }

    pub fn cancelOn(self: Command, token: ?CancelToken) Error!void {
        try checkRc(c.pk_command_cancel_on(self.handle, if (token) |t| t.handle else null));
    }

    /// stdin from an open std.Io.File (not closed by the library).
    pub fn stdinFromFile(self: Command, file: std.Io.File) Error!void {
        try self.stdinFd(file.handle);
    }

    /// Run on a new pseudo-terminal: it becomes the child's controlling
    /// terminal in a new session, and its stdin, stdout and stderr. Its
    /// output arrives as stdout; write with Process.write, resize with
    /// Process.resize.
    pub fn pty(self: Command, size: PtySize) Error!void {
        try checkRc(c.pk_command_pty(self.handle, size.rows, size.cols));
    }

    /// Run as this user and group with these supplementary groups (empty:
    /// drop them all): setgroups, setgid, then setuid in the child.
    pub fn user(self: Command, uid: std.posix.uid_t, gid: std.posix.gid_t, groups: []const std.posix.gid_t) Error!void {
        const buf = try std.heap.c_allocator.alloc(u32, groups.len);
        defer std.heap.c_allocator.free(buf);
        for (groups, buf) |g, *o| o.* = @intCast(g);
        try checkRc(c.pk_command_user(self.handle, @intCast(uid), @intCast(gid), buf.ptr, buf.len));
    }

    /// The child's umask.
    pub fn umask(self: Command, mask: std.posix.mode_t) Error!void {
        try checkRc(c.pk_command_umask(self.handle, @intCast(mask)));
    }

    /// Set a resource limit in the child (repeatable), std's own types:
    /// `cmd.rlimit(.NOFILE, .{ .cur = 64, .max = 64 })`.
    pub fn rlimit(self: Command, resource: std.posix.rlimit_resource, limit: std.posix.rlimit) Error!void {
        try checkRc(c.pk_command_rlimit(self.handle, @intCast(@backingInt(resource)), @intCast(limit.cur), @intCast(limit.max)));
    }

    /// The working directory as an open directory fd (fchdir); wins over cwd().
    pub fn cwdFd(self: Command, dir_fd: fd_t) Error!void {
        try checkRc(c.pk_command_cwd_fd(self.handle, dir_fd));
    }

    /// The working directory as an open std.Io.Dir; it must stay open until the runs start.
    pub fn cwdDir(self: Command, dir: std.Io.Dir) Error!void {
        try self.cwdFd(dir.handle);
    }

    /// Make the caller's `parent_fd` the child's fd `child_fd` (>= 3). Repeatable.
    pub fn mapFd(self: Command, child_fd: fd_t, parent_fd: fd_t) Error!void {
        try checkRc(c.pk_command_map_fd(self.handle, child_fd, parent_fd));
    }

    /// Give the child an open std.Io.File as its fd `child_fd` (>= 3).
    pub fn mapFile(self: Command, child_fd: fd_t, file: std.Io.File) Error!void {
        try self.mapFd(child_fd, file.handle);
    }

    /// Run until it succeeds or `opts.max_attempts` runs are spent, any
    /// failure retried; the Result is the last attempt's. Cancellation is
    /// terminal; a stdin that cannot be replayed (a pipe, an fd) is error.Invalid.
    pub fn runRetry(self: Command, allocator: std.mem.Allocator, opts: RetryOptions) Error!Result {
        const raw = opts.toC();
        var out: ?*c.pk_result = null;
        try checkRc(c.pk_command_run_retry(self.handle, &raw, null, null, &out));
        defer _ = c.pk_result_free(out);
        return Result.fromC(allocator, out.?);
    }

    /// runRetry, asking `classify(ctx, attempt)` after each failed attempt
    /// whether another is worth it (true = retry).
    pub fn runRetryClassified(
        self: Command,
        allocator: std.mem.Allocator,
        opts: RetryOptions,
        ctx: anytype,
        comptime classify: fn (@TypeOf(ctx), Attempt) bool,
    ) Error!Result {
        const Ctx = @TypeOf(ctx);
        const T = struct {
            fn call(user_ptr: ?*anyopaque, res: ?*c.pk_result, attempt: u32) callconv(.c) c_int {
                var info: c.pk_run_info = .{};
                if (c.pk_result_info(res, &info) < 0) return 0;
                const st = StageInfo.fromC(info);
                const cx: Ctx = @ptrCast(@alignCast(user_ptr));
                return @intFromBool(classify(cx, .{ .number = attempt, .outcome = st.outcome, .exit_code = st.exit_code, .signal = st.signal, .success = st.success }));
            }
        };
        const raw = opts.toC();
        var out: ?*c.pk_result = null;
        try checkRc(c.pk_command_run_retry(self.handle, &raw, T.call, @ptrCast(@constCast(ctx)), &out));
        defer _ = c.pk_result_free(out);
        return Result.fromC(allocator, out.?);
    }

    /// Keep the command running by `opts` until the policy is satisfied,
    /// `stop` is triggered (which also stops the current run gracefully), or
    /// restarts run out. Blocks.
    pub fn supervise(self: Command, opts: SuperviseOptions, stop: ?CancelToken) Error!SuperviseReport {
        return self.superviseRaw(opts, stop, null, null);
    }

    /// supervise, with `on_event(ctx, event, restarts, delay)` for every
    /// lifecycle event, on the calling thread.
    pub fn superviseWith(
        self: Command,
        opts: SuperviseOptions,
        stop: ?CancelToken,
        ctx: anytype,
        comptime on_event: fn (@TypeOf(ctx), SuperviseEvent, u32, Duration) void,
    ) Error!SuperviseReport {
        const Ctx = @TypeOf(ctx);
        const T = struct {
            fn call(user_ptr: ?*anyopaque, event: i32, restarts: u32, delay_ms: u32, _: ?*c.pk_result) callconv(.c) void {
                const cx: Ctx = @ptrCast(@alignCast(user_ptr));
                on_event(cx, @fromBackingInt(event), restarts, .fromMilliseconds(delay_ms));
            }
        };
        return self.superviseRaw(opts, stop, T.call, @ptrCast(@constCast(ctx)));
    }

    fn superviseRaw(self: Command, opts: SuperviseOptions, stop: ?CancelToken, on_event: c.pk_supervise_fn, user_ptr: ?*anyopaque) Error!SuperviseReport {
        const raw = opts.toC();
        var rep: c.pk_supervise_report = .{};
        try checkRc(c.pk_supervise(self.handle, &raw, on_event, null, user_ptr, if (stop) |t| t.handle else null, &rep));
        return .{ .runs = rep.runs, .restarts = rep.restarts, .storm_pauses = rep.storm_pauses, .stop_reason = @fromBackingInt(rep.stop_reason) };
    }

    /// Run in a private group, capture, wait. A non-zero exit, a timeout or a
    /// cancellation is data in the Result (see Result.check), not an error.
    pub fn run(self: Command, allocator: std.mem.Allocator) Error!Result {
        var out: ?*c.pk_result = null;
        try checkRc(c.pk_command_run(self.handle, &out));
        defer _ = c.pk_result_free(out);
        return Result.fromC(allocator, out.?);
    }

    /// run(), and fail unless the run succeeded: error.Failed, error.Timeout,
    /// error.Cancelled or error.Overflow with the library's message naming
    /// the program, its status and the last line of its stderr.
    pub fn runChecked(self: Command, allocator: std.mem.Allocator) Error!Result {
        var res = try self.run(allocator);
        errdefer res.deinit();
        try res.check();
        return res;
    }
};

/// Options of one pipeline stage.
pub const StageOptions = struct {
    /// This stage's failure never fails the pipeline (PK_STAGE_UNCHECKED).
    unchecked: bool = false,
};

/// `a | b | c` without a shell, every stage in one private group. The
/// first stage's stdin and the last stage's stdout are the commands' own
/// settings; the Result carries the last stage's output, the status of the
/// first stage that failed (pipefail) and every stage in `Result.stages`.
///
///     var pl = try processkit.Pipeline.init();
///     defer pl.deinit();
///     try pl.add(producer, .{});
///     try pl.add(consumer, .{});
///     var res = try pl.run(allocator);
pub const Pipeline = struct {
    handle: *c.pk_pipeline,
    flag_bits: u32 = 0,

    pub fn init() Error!Pipeline {
        var out: ?*c.pk_pipeline = null;
        try checkRc(c.pk_pipeline_new(&out));
        return .{ .handle = out.? };
    }

    /// Free the pipeline (the stages' Commands stay the caller's).
    pub fn deinit(self: *Pipeline) void {
        _ = c.pk_pipeline_free(self.handle);
        self.* = undefined;
    }

    /// Append a stage; the command is snapshotted when the pipeline runs.
    pub fn add(self: Pipeline, stage: Command, opts: StageOptions) Error!void {
        try checkRc(c.pk_pipeline_add(self.handle, stage.handle, if (opts.unchecked) c.PK_STAGE_UNCHECKED else 0));
    }

    /// A producer killed by SIGPIPE counts as failed (by default it does not).
    pub fn sigpipeFails(self: *Pipeline, on: bool) Error!void {
        const next = if (on) self.flag_bits | c.PK_PIPELINE_SIGPIPE_FAILS else self.flag_bits & ~@as(u32, c.PK_PIPELINE_SIGPIPE_FAILS);
        try checkRc(c.pk_pipeline_flags(self.handle, next));
        self.flag_bits = next;
    }

    /// Bound the whole pipeline: `opts.signal` to every stage after `after`, SIGKILL after `opts.grace`.
    pub fn timeout(self: Pipeline, after: Duration, opts: TimeoutOptions) Error!void {
        try checkRc(c.pk_pipeline_timeout(self.handle, durationMs(after), opts.signal.num(), durationMs(opts.grace)));
    }

    pub fn cancelOn(self: Pipeline, token: ?CancelToken) Error!void {
        try checkRc(c.pk_pipeline_cancel_on(self.handle, if (token) |t| t.handle else null));
    }

    /// Run every stage and wait; a failure is data in the Result, as for Command.run.
    pub fn run(self: Pipeline, allocator: std.mem.Allocator) Error!Result {
        var out: ?*c.pk_result = null;
        try checkRc(c.pk_pipeline_run(self.handle, &out));
        defer _ = c.pk_result_free(out);
        return Result.fromC(allocator, out.?);
    }

    /// run(), and fail unless the pipeline succeeded (as Command.runChecked).
    pub fn runChecked(self: Pipeline, allocator: std.mem.Allocator) Error!Result {
        var res = try self.run(allocator);
        errdefer res.deinit();
        try res.check();
        return res;
    }
};

fn Trampoline(comptime Ctx: type, comptime callback: fn (Ctx, Stream, []const u8) void) type {
    return struct {
        fn call(user: ?*anyopaque, stream: i32, line: ?[*]const u8, len: usize) callconv(.c) void {
            const ctx: Ctx = @ptrCast(@alignCast(user));
            const bytes: []const u8 = if (line) |l| l[0..len] else "";
            callback(ctx, @fromBackingInt(stream), bytes);
        }
    };
}

/// The outcome and captured output of a finished run. Owns its slices.
pub const Result = struct {
    allocator: std.mem.Allocator,
    outcome: Outcome,
    /// The exit code when outcome is .exited, else null.
    exit_code: ?i32,
    /// The signal that killed it, else null.
    signal: ?Signal,
    pid: pid_t,
    mechanism: Mechanism,
    /// Exited with an accepted code and no .fail-policy cap overflowed.
    success: bool,
    duration_us: u64,
    stdout: []u8,
    stderr: []u8,
    stdout_truncated: bool,
    stderr_truncated: bool,
    overflowed: bool,
    /// Why the run did not succeed (pk_result_check), if it did not.
    failure: ?Failure,
    /// A pipeline's stages in order (empty for a single command).
    stages: []StageInfo = &.{},

    pub const Failure = struct {
        code: c_int,
        message: []u8,
    };

    fn fromC(allocator: std.mem.Allocator, h: *c.pk_result) Error!Result {
        var info: c.pk_run_info = .{};
        try checkRc(c.pk_result_info(h, &info));
        const out = try outputOf(allocator, h, .stdout);
        errdefer allocator.free(out);
        const err = try outputOf(allocator, h, .stderr);
        errdefer allocator.free(err);
        var failure: ?Failure = null;
        const rc = c.pk_result_check(h);
        if (rc < 0) {
            const msg = if (c.pk_last_error()) |p| std.mem.span(p) else "";
            failure = .{ .code = rc, .message = try allocator.dupe(u8, msg) };
        }
        const outcome: Outcome = @fromBackingInt(info.outcome);
        const stages = try allocator.alloc(StageInfo, info.stage_count);
        errdefer allocator.free(stages);
        for (stages, 0..) |*st, i| {
            var si: c.pk_run_info = .{};
            try checkRc(c.pk_result_stage_info(h, @intCast(i), &si));
            st.* = StageInfo.fromC(si);
        }
        return .{
            .stages = stages,
            .allocator = allocator,
            .outcome = outcome,
            .exit_code = if (outcome == .exited) info.exit_code else null,
            .signal = if (info.signal != 0) @fromBackingInt(info.signal) else null,
            .pid = info.pid,
            .mechanism = @fromBackingInt(info.mechanism),
            .success = info.success != 0,
            .duration_us = info.duration_us,
            .stdout = out,
            .stderr = err,
            .stdout_truncated = info.stdout_truncated != 0,
            .stderr_truncated = info.stderr_truncated != 0,
            .overflowed = info.overflowed != 0,
            .failure = failure,
        };
    }

    fn outputOf(allocator: std.mem.Allocator, h: *c.pk_result, stream: Stream) Error![]u8 {
        var data: [*c]const u8 = null;
        var len: usize = 0;
        try checkRc(c.pk_result_output(h, @backingInt(stream), &data, &len));
        if (len == 0) return allocator.alloc(u8, 0);
        return allocator.dupe(u8, data[0..len]);
    }

    pub fn deinit(self: *Result) void {
        self.allocator.free(self.stdout);
        self.allocator.free(self.stderr);
        if (self.failure) |f| self.allocator.free(f.message);
        if (self.stages.len > 0) self.allocator.free(self.stages);
        self.* = undefined;
    }

    /// How long the run took, as a std.Io.Duration.
    pub fn duration(self: *const Result) Duration {
        return .fromMicroseconds(@intCast(self.duration_us));
    }

    /// error.Failed / Timeout / Cancelled / Overflow unless the run
    /// succeeded; lastError() then carries the library's message.
    pub fn check(self: *const Result) Error!void {
        const f = self.failure orelse return;
        recordMessage(f.code, f.message);
        return c.errorFromCode(f.code);
    }
};

// ------------------------------------------------------------------------
// Event loop (the async flavour)

/// One thread's event loop over many runs. Zig has no standard async
/// runtime, so the loop is driven by hand: `pollOnce` waits on the loop's fd
/// with std.posix.poll and then lets pk_loop_run_once handle what is ready;
/// `waitAll`, `waitAny` and `runAll` let the library drive it until the runs
/// are finished. The fd can as well be put into any other poll/epoll-based
/// loop. One thread drives a loop; `wake` (on a copy of the Loop, which is
/// only a handle) may come from any thread.
///
///     var loop = try processkit.Loop.init();
///     defer loop.deinit();
///     const results = try loop.runAll(allocator, &.{ cmd_a, cmd_b }, 5000);
pub const Loop = struct {
    handle: *c.pk_loop,

    pub fn init() Error!Loop {
        var out: ?*c.pk_loop = null;
        try checkRc(c.pk_loop_new(&out));
        return .{ .handle = out.? };
    }

    /// Kill and reap everything still running on the loop, then free it.
    pub fn deinit(self: *Loop) void {
        _ = c.pk_loop_free(self.handle);
        self.* = undefined;
    }

    /// Polls readable when runOnce has work.
    pub fn fd(self: Loop) Error!fd_t {
        var f: c_int = -1;
        try checkRc(c.pk_loop_fd(self.handle, &f));
        return f;
    }

    /// Start `cmd` in a private group of its own.
    pub fn start(self: Loop, cmd: Command) Error!Process {
        var out: ?*c.pk_process = null;
        try checkRc(c.pk_loop_start(self.handle, cmd.handle, null, &out));
        return .{ .handle = out.? };
    }

    /// Start `cmd` in `group`.
    pub fn startIn(self: Loop, cmd: Command, group: Group) Error!Process {
        var out: ?*c.pk_process = null;
        try checkRc(c.pk_loop_start(self.handle, cmd.handle, group.handle, &out));
        return .{ .handle = out.? };
    }

    /// pk_loop_run_once: wait up to `timeout_ms` (-1 forever) inside the
    /// library and handle events. A `wake` makes it return at once.
    pub fn runOnce(self: Loop, timeout_ms: i32) Error!void {
        try checkRc(c.pk_loop_run_once(self.handle, timeout_ms));
    }

    /// Wake the loop from any thread (not from a signal handler), so the
    /// thread driving it stops waiting (pk_loop_wake). `waitAll`, `waitAny`,
    /// `Process.waitForLine` and `Process.waitForPort` then fail with
    /// error.Cancelled, and every run goes on as it was; a `runOnce` or
    /// `pollOnce` in progress returns at once. A wake with nobody waiting
    /// only makes the next `runOnce` return early. error.Handle once the
    /// loop is freed.
    pub fn wake(self: Loop) Error!void {
        try checkRc(c.pk_loop_wake(self.handle));
    }

    /// Wait up to `timeout_ms` (-1 forever) for the loop's fd to poll
    /// readable, then handle whatever is ready without blocking. Returns
    /// whether the fd was readable.
    pub fn pollOnce(self: Loop, timeout_ms: i32) Error!bool {
        var fds = [1]std.posix.pollfd{.{ .fd = try self.fd(), .events = std.posix.POLL.IN, .revents = 0 }};
        const n = std.posix.poll(&fds, timeout_ms) catch |e|
            return fail(c.PK_ERR_OS, "Loop.pollOnce: poll on the loop fd failed: {s}", .{@errorName(e)});
        if (n == 0) return false;
        try self.runOnce(0);
        return true;
    }

    /// Drive the loop until every process is finished (pk_loop_wait_all).
    /// `timeout_ms` null waits forever; else error.Timeout when it runs out.
    /// error.Cancelled when `wake` ends the wait (the runs go on).
    pub fn waitAll(self: Loop, procs: []const Process, timeout_ms: ?u32) Error!void {
        if (procs.len == 0) return;
        var handles: ProcessHandles = undefined;
        const raw = try handles.of(procs);
        defer handles.deinit();
        try checkRc(c.pk_loop_wait_all(self.handle, raw.ptr, raw.len, timeoutArg(timeout_ms)));
    }

    /// Drive the loop until one of `procs` is finished (pk_loop_wait_any);
    /// returns its index (the first finished one). error.Timeout when
    /// `timeout_ms` (null: forever) runs out first, error.Cancelled when
    /// `wake` ends the wait (the runs go on).
    pub fn waitAny(self: Loop, procs: []const Process, timeout_ms: ?u32) Error!usize {
        if (procs.len == 0) return fail(c.PK_ERR_INVALID, "Loop.waitAny: no processes given", .{});
        var handles: ProcessHandles = undefined;
        const raw = try handles.of(procs);
        defer handles.deinit();
        var index: usize = 0;
        try checkRc(c.pk_loop_wait_any(self.handle, raw.ptr, raw.len, timeoutArg(timeout_ms), &index));
        return index;
    }

    /// Start every command, drive them concurrently to the end, and return
    /// their results in order (free each, then the slice). On error
    /// (including error.Timeout) the runs still going are cancelled.
    pub fn runAll(self: Loop, allocator: std.mem.Allocator, cmds: []const Command, timeout_ms: ?u32) Error![]Result {
        const procs = try allocator.alloc(Process, cmds.len);
        defer allocator.free(procs);
        var started: usize = 0;
        defer for (procs[0..started]) |*p| p.deinit();
        for (cmds) |cmd| {
            procs[started] = try self.start(cmd);
            started += 1;
        }
        try self.waitAll(procs, timeout_ms);
        const results = try allocator.alloc(Result, cmds.len);
        var made: usize = 0;
        errdefer {
            for (results[0..made]) |*r| r.deinit();
            allocator.free(results);
        }
        for (procs) |p| {
            results[made] = try p.result(allocator);
            made += 1;
        }
        return results;
    }
};

/// A timeout for the library: null = -1 (forever), else at most maxInt(i32) ms.
fn timeoutArg(timeout_ms: ?u32) i32 {
    const t = timeout_ms orelse return -1;
    return @intCast(@min(t, std.math.maxInt(i32)));
}

/// The C handles of a slice of Processes, on the stack when there are few.
const ProcessHandles = struct {
    buf: [16]?*c.pk_process,
    bfa: std.heap.BufferFirstAllocator,
    list: []?*c.pk_process,

    fn of(self: *ProcessHandles, procs: []const Process) Error![]?*c.pk_process {
        self.bfa = .init(@ptrCast(&self.buf), std.heap.c_allocator);
        self.list = try self.bfa.allocator().alloc(?*c.pk_process, procs.len);
        for (procs, self.list) |p, *h| h.* = p.handle;
        return self.list;
    }

    fn deinit(self: *ProcessHandles) void {
        self.bfa.allocator().free(self.list);
    }
};

/// What Process.waitForLine matches a line against.
pub const Match = enum {
    /// The line contains the pattern.
    substring,
    /// The pattern is a POSIX extended regular expression.
    regex,
};

/// The outcome of the last readiness probe on a Process (Process.readiness).
pub const Readiness = struct {
    /// What it waited for (.none before any probe).
    kind: ReadyKind,
    outcome: ReadyOutcome,
    /// .line: the stream it watched (null: either).
    stream: ?Stream,
    /// .port: the port on 127.0.0.1.
    port: u16,
    /// .line: how many lines it looked at, those before the call included.
    lines_seen: u32,
    /// How long it waited.
    waited_us: u64,
    last_line_buf: @FieldType(c.pk_readiness_info, "last_line"),

    /// .line: the last line it looked at (cut to 159 bytes), or "".
    pub fn lastLine(self: *const Readiness) []const u8 {
        return std.mem.sliceTo(&self.last_line_buf, 0);
    }
};

/// A command running (or finished) on a Loop.
pub const Process = struct {
    handle: *c.pk_process,

    /// Release the handle; a run still going is cancelled and reaped first.
    pub fn deinit(self: *Process) void {
        _ = c.pk_process_free(self.handle);
        self.* = undefined;
    }

    pub fn pid(self: Process) Error!pid_t {
        var p: i32 = 0;
        try checkRc(c.pk_process_pid(self.handle, &p));
        return p;
    }

    pub fn done(self: Process) Error!bool {
        var d: i32 = 0;
        try checkRc(c.pk_process_done(self.handle, &d));
        return d != 0;
    }

    /// Kill the tree; the run ends as cancelled. Any thread.
    pub fn cancel(self: Process) Error!void {
        try checkRc(c.pk_process_cancel(self.handle));
    }

    /// Send `sig` to the process's tree (or to it alone in a shared group).
    pub fn signal(self: Process, sig: Signal) Error!void {
        try checkRc(c.pk_process_signal(self.handle, sig.num()));
    }

    /// Queue bytes for a stdinPipe() stdin.
    pub fn write(self: Process, data: []const u8) Error!void {
        try checkRc(c.pk_process_write(self.handle, data.ptr, data.len));
    }

    pub fn closeStdin(self: Process) Error!void {
        try checkRc(c.pk_process_close_stdin(self.handle));
    }

    /// Drive the process's loop until a line of `stream` (null: either)
    /// matches `pattern`. Lines seen before the call count too, and every
    /// line still reaches the capture and the callbacks. error.NotReady when
    /// `timeout_ms` (null: forever) passes or the run ends first (the
    /// message holds the last lines seen), error.Cancelled on Loop.wake. The
    /// process is never killed by a probe; `readiness()` tells what happened.
    pub fn waitForLine(self: Process, stream: ?Stream, pattern: [:0]const u8, match: Match, timeout_ms: ?u32) Error!void {
        const s: i32 = if (stream) |st| @backingInt(st) else 0;
        const flags: u32 = switch (match) {
            .substring => c.PK_MATCH_SUBSTRING,
            .regex => c.PK_MATCH_REGEX,
        };
        try checkRc(c.pk_process_wait_for_line(self.handle, s, pattern.ptr, flags, timeoutArg(timeout_ms)));
    }

    /// Drive the process's loop until a TCP connection to 127.0.0.1:`port`
    /// succeeds; errors as for waitForLine.
    pub fn waitForPort(self: Process, port: u16, timeout_ms: ?u32) Error!void {
        try checkRc(c.pk_process_wait_for_port(self.handle, port, timeoutArg(timeout_ms)));
    }

    /// What the last readiness probe on this process waited for, how it
    /// ended, how long it waited and the last line it saw, as data
    /// (pk_process_readiness); kind .none before any probe.
    pub fn readiness(self: Process) Error!Readiness {
        var raw: c.pk_readiness_info = .{};
        try checkRc(c.pk_process_readiness(self.handle, &raw));
        return .{
            .kind = @fromBackingInt(raw.kind),
            .outcome = @fromBackingInt(raw.outcome),
            .stream = if (raw.stream == 0) null else @fromBackingInt(raw.stream),
            .port = @truncate(raw.port),
            .lines_seen = raw.lines_seen,
            .waited_us = raw.waited_us,
            .last_line_buf = raw.last_line,
        };
    }

    /// Resize a PTY run's terminal (the child gets SIGWINCH).
    pub fn resize(self: Process, size: PtySize) Error!void {
        try checkRc(c.pk_process_resize(self.handle, size.rows, size.cols));
    }

    /// Drive the loop until `ready(ctx)` is true, asking every `interval`;
    /// errors as for waitForLine (`timeout` null: forever).
    pub fn waitFor(self: Process, ctx: anytype, comptime ready: fn (@TypeOf(ctx)) bool, interval: Duration, timeout: ?Duration) Error!void {
        const Ctx = @TypeOf(ctx);
        const T = struct {
            fn call(user_ptr: ?*anyopaque) callconv(.c) c_int {
                return @intFromBool(ready(@as(Ctx, @ptrCast(@alignCast(user_ptr)))));
            }
        };
        try checkRc(c.pk_process_wait_for(self.handle, T.call, @ptrCast(@constCast(ctx)), durationMs(interval), durationTimeout(timeout)));
    }

    /// waitForLine with a std.Io.Duration timeout (null: forever).
    pub fn waitForLineWithin(self: Process, stream: ?Stream, pattern: [:0]const u8, match: Match, timeout: ?Duration) Error!void {
        const ms: ?u32 = if (timeout) |t| durationMs(t) else null;
        try self.waitForLine(stream, pattern, match, ms);
    }

    /// The result of the finished run (error.State while it runs).
    pub fn result(self: Process, allocator: std.mem.Allocator) Error!Result {
        var out: ?*c.pk_result = null;
        try checkRc(c.pk_process_result(self.handle, &out));
        defer _ = c.pk_result_free(out);
        return Result.fromC(allocator, out.?);
    }
};

test {
    // Reference every generated declaration: each extern fn must link.
    std.testing.refAllDecls(c);
    std.testing.refAllDecls(@This());
}
