//! Scenario tests of the Zig binding (the same scenarios in every language).
const std = @import("std");
const pk = @import("processkit");
const testing = std.testing;

const alloc = testing.allocator;
const io = testing.io;

fn nowMs() i64 {
    return std.Io.Timestamp.now(io, .awake).toMilliseconds();
}

fn sleepMs(ms: i64) void {
    io.sleep(.fromMilliseconds(ms), .awake) catch {};
}

// ---- helpers -------------------------------------------------------------

/// Field 22 (start time) of /proc/PID/stat and whether the process is a zombie;
/// null when there is no such process.
const ProcState = struct { start: u64, zombie: bool };

fn procState(pid: i32) ?ProcState {
    var path_buf: [64]u8 = undefined;
    const path = std.fmt.bufPrint(&path_buf, "/proc/{d}/stat", .{pid}) catch unreachable;
    var buf: [1024]u8 = undefined;
    const text = std.Io.Dir.cwd().readFile(io, path, &buf) catch return null;
    // comm may hold spaces and parens: the fields start after the last ')'.
    const close = std.mem.lastIndexOfScalar(u8, text, ')') orelse return null;
    var it = std.mem.tokenizeScalar(u8, text[close + 1 ..], ' ');
    var field: usize = 3;
    var zombie = false;
    while (it.next()) |tok| : (field += 1) {
        if (field == 3) zombie = std.mem.eql(u8, tok, "Z") or std.mem.eql(u8, tok, "X");
        if (field == 22) return .{ .start = std.fmt.parseInt(u64, tok, 10) catch return null, .zombie = zombie };
    }
    return null;
}

/// The same process (pid and start time) still exists and is not a zombie.
fn isAlive(pid: i32, start: u64) bool {
    const st = procState(pid) orelse return false;
    return st.start == start and !st.zombie;
}

/// Wait (up to timeout_ms) for a process to be dead; true if it is.
fn waitDead(pid: i32, start: u64, timeout_ms: i64) bool {
    const deadline = nowMs() + timeout_ms;
    while (nowMs() < deadline) {
        if (!isAlive(pid, start)) return true;
        sleepMs(20);
    }
    return !isAlive(pid, start);
}

/// Read a pid a shell wrote to `name` in `dir`, waiting for it to appear.
fn readPidFile(dir: std.Io.Dir, name: []const u8, timeout_ms: i64) !i32 {
    const deadline = nowMs() + timeout_ms;
    while (nowMs() < deadline) {
        var buf: [32]u8 = undefined;
        if (dir.readFile(io, name, &buf)) |text| {
            const trimmed = std.mem.trim(u8, text, " \n");
            if (trimmed.len > 0 and text[text.len - 1] == '\n')
                return try std.fmt.parseInt(i32, trimmed, 10);
        } else |_| {}
        sleepMs(20);
    }
    return error.PidFileMissing;
}

/// A temp dir and its absolute path (for shell commands); cleaned up by deinit.
const Tmp = struct {
    tmp: testing.TmpDir,
    path: [:0]u8,

    fn init() !Tmp {
        var tmp = testing.tmpDir(.{});
        errdefer tmp.cleanup();
        const path = try tmp.dir.realPathFileAlloc(io, ".", alloc);
        return .{ .tmp = tmp, .path = path };
    }
    fn deinit(self: *Tmp) void {
        alloc.free(self.path);
        self.tmp.cleanup();
    }
    fn file(self: *const Tmp, name: []const u8) ![:0]u8 {
        return std.fmt.allocPrintSentinel(alloc, "{s}/{s}", .{ self.path, name }, 0);
    }
};

fn pathExists(path: []const u8) bool {
    std.Io.Dir.accessAbsolute(io, path, .{}) catch return false;
    return true;
}

// ---- a. kill-on-free ------------------------------------------------------

test "a: deinit of a group kills the child and the grandchild it left" {
    var tmp = try Tmp.init();
    defer tmp.deinit();
    const pidfile = try tmp.file("grandchild.pid");
    defer alloc.free(pidfile);
    const script = try std.fmt.allocPrintSentinel(alloc, "sleep 30 & echo $! > '{s}'; wait", .{pidfile}, 0);
    defer alloc.free(script);

    var group = try pk.Group.init(.{});
    var group_live = true;
    defer if (group_live) group.deinit();
    const cgroup_path = try alloc.dupe(u8, (try group.containment()).cgroupPath());
    defer alloc.free(cgroup_path);

    var child = try group.spawnWith(&.{ "sh", "-c", script }, .{ .stdin = .devnull });
    defer child.deinit();
    const child_pid = try child.pid();
    const grandchild_pid = try readPidFile(tmp.tmp.dir, "grandchild.pid", 5000);
    const child_start = (procState(child_pid) orelse return error.ChildNotRunning).start;
    const grandchild_start = (procState(grandchild_pid) orelse return error.GrandchildNotRunning).start;
    try testing.expect(isAlive(child_pid, child_start));
    try testing.expect(isAlive(grandchild_pid, grandchild_start));

    group.deinit();
    group_live = false;

    try testing.expect(waitDead(child_pid, child_start, 5000));
    try testing.expect(waitDead(grandchild_pid, grandchild_start, 5000));
    // The child handle outlives the group and reports how it died.
    const status = try child.wait(5000);
    try testing.expectEqual(pk.Signal.kill, status.signalled.signal);
    // The cgroup leaf is gone too.
    if (cgroup_path.len > 0) try testing.expect(!pathExists(cgroup_path));
}

// ---- b. run and capture ---------------------------------------------------

test "b: run captures stdout, stderr and the exit code; a non-zero exit is data" {
    var cmd = try pk.Command.initArgv(&.{ "sh", "-c", "echo out; echo err >&2; exit 3" });
    defer cmd.deinit();
    var res = try cmd.run(alloc);
    defer res.deinit();
    try testing.expectEqual(pk.Outcome.exited, res.outcome);
    try testing.expectEqual(@as(?i32, 3), res.exit_code);
    try testing.expectEqualStrings("out\n", res.stdout);
    try testing.expectEqualStrings("err\n", res.stderr);
    try testing.expect(!res.success);
    try testing.expect(res.pid > 0);

    // Asking for success turns it into error.Failed with the library's message.
    try testing.expectError(error.Failed, res.check());
    try testing.expectError(error.Failed, cmd.runChecked(alloc));
    const info = pk.lastError();
    try testing.expectEqual(@as(c_int, -16), info.code);
    try testing.expectEqual(error.Failed, info.err);
    try testing.expect(std.mem.indexOf(u8, info.message, "exited with code 3") != null);
    try testing.expect(std.mem.indexOf(u8, info.message, "err") != null);
}

test "b: a successful checked run, stdin bytes and accepted exit codes" {
    var cmd = try pk.Command.init("cat");
    defer cmd.deinit();
    try cmd.stdinBytes("hello\nworld");
    var res = try cmd.runChecked(alloc);
    defer res.deinit();
    try testing.expectEqualStrings("hello\nworld", res.stdout);
    try testing.expectEqual(@as(usize, 0), res.stderr.len);
    try testing.expect(res.success);
    try res.check();

    var three = try pk.Command.initArgv(&.{ "sh", "-c", "exit 3" });
    defer three.deinit();
    try three.okCodes(&.{ 0, 3 });
    var ok = try three.runChecked(alloc);
    defer ok.deinit();
    try testing.expectEqual(@as(?i32, 3), ok.exit_code);
}

const Lines = struct {
    list: std.ArrayList(u8) = .empty,
    fn add(self: *Lines, stream: pk.Stream, line: []const u8) void {
        const tag: []const u8 = if (stream == .stdout) "out:" else "err:";
        self.list.appendSlice(alloc, tag) catch return;
        self.list.appendSlice(alloc, line) catch return;
        self.list.append(alloc, '|') catch return;
    }
};

test "b: line callbacks see every line of both streams" {
    var cmd = try pk.Command.initArgv(&.{ "sh", "-c", "echo one; echo two >&2; sleep 0.05; printf three" });
    defer cmd.deinit();
    var lines: Lines = .{};
    defer lines.list.deinit(alloc);
    try cmd.onEvent(&lines, Lines.add);
    var res = try cmd.runChecked(alloc);
    defer res.deinit();
    try testing.expectEqualStrings("out:one|err:two|out:three|", lines.list.items);
}

// ---- c. timeout -----------------------------------------------------------

test "c: a timeout tears the tree down and reports timed out" {
    var tmp = try Tmp.init();
    defer tmp.deinit();
    const pidfile = try tmp.file("grandchild.pid");
    defer alloc.free(pidfile);
    const script = try std.fmt.allocPrintSentinel(alloc, "sleep 30 & echo $! > '{s}'; sleep 30", .{pidfile}, 0);
    defer alloc.free(script);

    var cmd = try pk.Command.initArgv(&.{ "sh", "-c", script });
    defer cmd.deinit();
    try cmd.timeoutWith(300, null, 500);
    const start = std.Io.Timestamp.now(io, .awake);
    var res = try cmd.run(alloc);
    defer res.deinit();
    const elapsed_ms = start.untilNow(io, .awake).toMilliseconds();

    try testing.expectEqual(pk.Outcome.timed_out, res.outcome);
    try testing.expect(!res.success);
    try testing.expectEqual(@as(?i32, null), res.exit_code);
    try testing.expect(elapsed_ms >= 250 and elapsed_ms < 5000);
    try testing.expectError(error.Timeout, res.check());
    try testing.expect(std.mem.indexOf(u8, pk.lastError().message, "timed out") != null);

    const grandchild = try readPidFile(tmp.tmp.dir, "grandchild.pid", 1000);
    try testing.expect(waitDead(grandchild, (procState(grandchild) orelse ProcState{ .start = 0, .zombie = true }).start, 5000));
}

// ---- d. mechanism ---------------------------------------------------------

test "d: the mechanism is cgroup-v2 here, and process-group when forced" {
    var group = try pk.Group.init(.{});
    defer group.deinit();
    const mech = try group.mechanism();
    try testing.expectEqual(pk.Mechanism.cgroup_v2, mech);
    try testing.expectEqualStrings("cgroup-v2", mech.name());
    const info = try group.containment();
    try testing.expect(info.has(pk.Feature.contains_setsid));
    try testing.expect(info.cgroupPath().len > 0);

    var pg = try pk.Group.init(.{ .backend = .process_group });
    defer pg.deinit();
    try testing.expectEqualStrings("process-group", (try pg.mechanism()).name());

    // A run in a forced process-group reports it too.
    var cmd = try pk.Command.init("true");
    defer cmd.deinit();
    try cmd.groupOptions(.{ .backend = .process_group });
    var res = try cmd.runChecked(alloc);
    defer res.deinit();
    try testing.expectEqual(pk.Mechanism.process_group, res.mechanism);

    // The owner-death guarantee is on by default and can be turned off.
    try testing.expect(info.has(pk.Feature.owner_death));
    var unguarded = try pk.Group.init(.{ .owner_death_kill = false });
    defer unguarded.deinit();
    try testing.expect(!(try unguarded.containment()).has(pk.Feature.owner_death));

    const probed = try pk.probe(.cgroup_v2);
    try testing.expectEqual(pk.Mechanism.cgroup_v2, probed.mechanism());
}

// ---- e. errors ------------------------------------------------------------

test "e: an empty program name is error.Invalid with the library's message" {
    try testing.expectError(error.Invalid, pk.Command.init(""));
    const info = pk.lastError();
    try testing.expectEqual(@as(c_int, -1), info.code);
    try testing.expectEqual(@as(c_int, -1), pk.errorCode(error.Invalid));
    try testing.expectEqualStrings("pk_command_new: the program name is empty", info.message);

    var group = try pk.Group.init(.{});
    defer group.deinit();
    try testing.expectError(error.Invalid, group.spawn(&.{}));
    try testing.expect(pk.lastError().message.len > 0);
    try testing.expectError(error.NotFound, group.spawn(&.{"/nonexistent/processkit-zig-test"}));
    try testing.expectEqual(@as(c_int, -7), pk.lastError().code);
}

test "e: a freed handle is error.Handle with the library's message" {
    var group = try pk.Group.init(.{});
    const stale = group; // a copy of the handle
    group.deinit();
    try testing.expectError(error.Handle, stale.mechanism());
    const info = pk.lastError();
    try testing.expectEqual(@as(c_int, -3), info.code);
    try testing.expect(std.mem.indexOf(u8, info.message, "pk_group_containment") != null);

    var cmd = try pk.Command.init("true");
    const stale_cmd = cmd;
    cmd.deinit();
    try testing.expectError(error.Handle, stale_cmd.arg("x"));
    try testing.expectError(error.Handle, stale_cmd.run(alloc));
}

test "e: every library error code maps to a Zig error and back" {
    for (pk.c.error_codes) |entry| {
        const err = pk.c.errorFromCode(entry.code);
        try testing.expectEqual(entry.err, err);
        try testing.expectEqual(entry.code, pk.errorCode(err));
        try testing.expect(pk.strerror(err).len > 0);
    }
    try testing.expectEqual(error.NotFound, pk.c.errorFromCode(pk.c.PK_ERR_NOT_FOUND));
    try testing.expectEqual(error.Unknown, pk.c.errorFromCode(-999));
}

test "e: the generated struct layouts match the library's sizes" {
    const c = pk.c;
    const pairs = .{
        .{ c.PK_STRUCT_CONTAINMENT, c.pk_containment },
        .{ c.PK_STRUCT_GROUP_OPTIONS, c.pk_group_options },
        .{ c.PK_STRUCT_SPAWN_OPTIONS, c.pk_spawn_options },
        .{ c.PK_STRUCT_GROUP_STATS, c.pk_group_stats },
        .{ c.PK_STRUCT_SHUTDOWN_OPTIONS, c.pk_shutdown_options },
        .{ c.PK_STRUCT_SHUTDOWN_REPORT, c.pk_shutdown_report },
        .{ c.PK_STRUCT_EXIT_STATUS, c.pk_exit_status },
        .{ c.PK_STRUCT_RUN_INFO, c.pk_run_info },
    };
    inline for (pairs) |p| {
        var size: usize = 0;
        try testing.expectEqual(@as(c_int, 0), c.pk_struct_size(p[0], &size));
        try testing.expectEqual(@as(usize, @sizeOf(p[1])), size);
    }
    try testing.expectEqual(@as(u32, c.PK_VERSION_NUMBER), c.pk_version());
    try testing.expectEqualStrings(c.manifest_version, pk.version());
}

// ---- f. the loop ----------------------------------------------------------

test "f: two commands run concurrently on one loop" {
    var a = try pk.Command.initArgv(&.{ "sh", "-c", "sleep 0.3; echo a" });
    defer a.deinit();
    var b = try pk.Command.initArgv(&.{ "sh", "-c", "sleep 0.3; echo b" });
    defer b.deinit();

    var loop = try pk.Loop.init();
    defer loop.deinit();
    const start = std.Io.Timestamp.now(io, .awake);
    const results = try loop.runAll(alloc, &.{ a, b }, 10_000);
    defer {
        for (results) |*r| r.deinit();
        alloc.free(results);
    }
    const elapsed_ms = start.untilNow(io, .awake).toMilliseconds();
    try testing.expectEqual(@as(usize, 2), results.len);
    try testing.expectEqualStrings("a\n", results[0].stdout);
    try testing.expectEqualStrings("b\n", results[1].stdout);
    for (results) |r| try testing.expect(r.success);
    try testing.expect(elapsed_ms >= 250);
    try testing.expect(elapsed_ms < 1500);
}

test "f: wait any, a wait that times out, then cancel" {
    var fast = try pk.Command.initArgv(&.{ "sh", "-c", "echo fast" });
    defer fast.deinit();
    var slow = try pk.Command.initArgv(&.{ "sleep", "30" });
    defer slow.deinit();

    var loop = try pk.Loop.init();
    defer loop.deinit();
    var p_fast = try loop.start(fast);
    defer p_fast.deinit();
    var p_slow = try loop.start(slow);
    defer p_slow.deinit();

    const first = try loop.waitAny(&.{ p_fast, p_slow }, 10_000);
    try testing.expectEqual(@as(usize, 0), first);
    try testing.expectError(error.State, p_slow.result(alloc));
    try testing.expectError(error.Timeout, loop.waitAll(&.{p_slow}, 100));

    try p_slow.cancel();
    try loop.waitAll(&.{p_slow}, 10_000);
    var r_fast = try p_fast.result(alloc);
    defer r_fast.deinit();
    var r_slow = try p_slow.result(alloc);
    defer r_slow.deinit();
    try testing.expectEqualStrings("fast\n", r_fast.stdout);
    try testing.expectEqual(pk.Outcome.cancelled, r_slow.outcome);
    try testing.expectError(error.Cancelled, r_slow.check());
}

test "f: a cancel token triggered from another thread ends a run" {
    var token = try pk.CancelToken.init();
    defer token.deinit();
    var cmd = try pk.Command.initArgv(&.{ "sleep", "30" });
    defer cmd.deinit();
    try cmd.cancelOn(token);
    const t = try std.Thread.spawn(.{}, struct {
        fn go(tok: pk.CancelToken) void {
            sleepMs(200);
            tok.trigger() catch {};
        }
    }.go, .{token});
    var res = try cmd.run(alloc);
    defer res.deinit();
    t.join();
    try testing.expectEqual(pk.Outcome.cancelled, res.outcome);
}

/// Sleep `ms`, then wake `loop` (on another thread).
fn wakeLater(loop: pk.Loop, ms: i64) void {
    sleepMs(ms);
    loop.wake() catch {};
}

test "f: Loop.wake from another thread ends a wait with error.Cancelled; the run goes on" {
    var cmd = try pk.Command.initArgv(&.{ "sleep", "30" });
    defer cmd.deinit();
    var loop = try pk.Loop.init();
    defer loop.deinit();
    var proc = try loop.start(cmd);
    defer proc.deinit();

    const start = nowMs();
    const t = try std.Thread.spawn(.{}, wakeLater, .{ loop, 200 });
    const rc = loop.waitAll(&.{proc}, 20_000);
    t.join();
    try testing.expectError(error.Cancelled, rc);
    try testing.expect(std.mem.indexOf(u8, pk.lastError().message, "pk_loop_wake") != null);
    try testing.expect(nowMs() - start < 10_000);
    try testing.expect(!try proc.done());

    // waitAny too.
    const t2 = try std.Thread.spawn(.{}, wakeLater, .{ loop, 100 });
    const rc2 = loop.waitAny(&.{proc}, 20_000);
    t2.join();
    try testing.expectError(error.Cancelled, rc2);

    // A pollOnce blocked on the loop's fd returns at once.
    const t3 = try std.Thread.spawn(.{}, wakeLater, .{ loop, 100 });
    const polled = loop.pollOnce(20_000);
    t3.join();
    try testing.expect(try polled);
    try testing.expect(nowMs() - start < 15_000);

    // The run was not touched by the wakes.
    try testing.expect(!try proc.done());
    try proc.cancel();
    try loop.waitAll(&.{proc}, 10_000);
    var res = try proc.result(alloc);
    defer res.deinit();
    try testing.expectEqual(pk.Outcome.cancelled, res.outcome);

    // A wake with nobody waiting only makes the next runOnce return early.
    try loop.wake();
    const before = nowMs();
    try loop.runOnce(10_000);
    try testing.expect(nowMs() - before < 5_000);
}

test "f: Loop.wake on a freed loop is error.Handle" {
    var loop = try pk.Loop.init();
    const stale = loop;
    loop.deinit();
    try testing.expectError(error.Handle, stale.wake());
}

test "f: Process.readiness reports each probe's kind, outcome, wait and last line" {
    var cmd = try pk.Command.initArgv(&.{ "sh", "-c", "echo starting; echo listening on 1234; exec sleep 30" });
    defer cmd.deinit();
    var loop = try pk.Loop.init();
    defer loop.deinit();
    var proc = try loop.start(cmd);
    defer proc.deinit();

    const none = try proc.readiness();
    try testing.expectEqual(pk.ReadyKind.none, none.kind);
    try testing.expectEqual(pk.ReadyOutcome.pending, none.outcome);
    try testing.expectEqualStrings("", none.lastLine());

    // Met.
    try proc.waitForLine(.stdout, "listening on [0-9]+", .regex, 10_000);
    const met = try proc.readiness();
    try testing.expectEqual(pk.ReadyKind.line, met.kind);
    try testing.expectEqual(pk.ReadyOutcome.met, met.outcome);
    try testing.expectEqual(@as(?pk.Stream, .stdout), met.stream);
    try testing.expectEqualStrings("listening on 1234", met.lastLine());
    try testing.expect(met.lines_seen >= 2);
    try testing.expectEqualStrings("line", met.kind.name());
    try testing.expectEqualStrings("met", met.outcome.name());

    // Timed out (either stream).
    try testing.expectError(error.NotReady, proc.waitForLine(null, "never printed", .substring, 150));
    const timed = try proc.readiness();
    try testing.expectEqual(pk.ReadyOutcome.timed_out, timed.outcome);
    try testing.expectEqual(@as(?pk.Stream, null), timed.stream);
    try testing.expect(timed.waited_us >= 100_000);
    try testing.expectEqualStrings("timed-out", timed.outcome.name());

    // Woken by Loop.wake from another thread.
    const t = try std.Thread.spawn(.{}, wakeLater, .{ loop, 150 });
    const rc = proc.waitForLine(.stderr, "never printed", .substring, 20_000);
    t.join();
    try testing.expectError(error.Cancelled, rc);
    const woken = try proc.readiness();
    try testing.expectEqual(pk.ReadyOutcome.woken, woken.outcome);
    try testing.expectEqual(@as(?pk.Stream, .stderr), woken.stream);

    // A port probe: nothing listens on port 1 here.
    try testing.expectError(error.NotReady, proc.waitForPort(1, 150));
    const port = try proc.readiness();
    try testing.expectEqual(pk.ReadyKind.port, port.kind);
    try testing.expectEqual(pk.ReadyOutcome.timed_out, port.outcome);
    try testing.expectEqual(@as(u16, 1), port.port);

    // The run ends first.
    try proc.cancel();
    try testing.expectError(error.NotReady, proc.waitForLine(.stdout, "never printed", .substring, 10_000));
    try testing.expectEqual(pk.ReadyOutcome.run_ended, (try proc.readiness()).outcome);
}

// ---- enum names -----------------------------------------------------------

/// `name` with `_` turned into `-` (a generated member name as a stable name).
fn dashed(comptime name: []const u8) []const u8 {
    comptime {
        var out: [name.len]u8 = undefined;
        for (name, 0..) |ch, i| out[i] = if (ch == '_') '-' else ch;
        const final = out;
        return &final;
    }
}

test "names: the generated mechanism names are the C library's pk_mechanism_name" {
    const c = pk.c;
    inline for (@typeInfo(c.pk_mechanism).@"enum".field_names) |field| {
        const v: i32 = @intCast(@backingInt(@field(c.pk_mechanism, field)));
        const from_c = std.mem.span(c.pk_mechanism_name(v) orelse return error.NoCName);
        try testing.expectEqualStrings(from_c, c.pk_mechanism_str(v).?);
        const public: pk.Mechanism = @fromBackingInt(v);
        try testing.expectEqualStrings(from_c, public.name());
    }
    // Neither knows a value from the future; the public name says "unknown".
    try testing.expect(c.pk_mechanism_name(99) == null);
    try testing.expect(c.pk_mechanism_str(99) == null);
    const future: pk.Mechanism = @fromBackingInt(99);
    try testing.expectEqualStrings("unknown", future.name());
}

test "names: every generated enum's name table names every member" {
    @setEvalBranchQuota(100_000);
    const c = pk.c;
    comptime var enums = 0;
    inline for (@typeInfo(c).@"struct".decl_names) |decl| {
        if (comptime !std.mem.startsWith(u8, decl, "pk_") or @TypeOf(@field(c, decl)) != type) continue;
        const T = @field(c, decl);
        if (comptime !@hasDecl(c, decl ++ "_str")) continue;
        const str = @field(c, decl ++ "_str");
        enums += 1;
        switch (@typeInfo(T)) {
            // A typedef'd enum: a Zig enum whose members are the stable names with `_`.
            .@"enum" => |info| inline for (info.field_names) |field| {
                try testing.expectEqualStrings(comptime dashed(field), str(@backingInt(@field(T, field))).?);
            },
            // A flag enum: a namespace of u32 bits.
            .@"struct" => |info| inline for (info.decl_names) |bit| {
                try testing.expectEqualStrings(comptime dashed(bit), str(@field(T, bit)).?);
            },
            else => return error.NotAnEnum,
        }
        try testing.expect(str(-12345) == null);
    }
    try testing.expect(enums >= 20);
    try testing.expectEqualStrings("timed-out", c.pk_outcome_str(c.PK_OUTCOME_TIMED_OUT).?);
    try testing.expectEqualStrings("not-found", c.pk_error_str(c.PK_ERR_NOT_FOUND).?);
    try testing.expectEqualStrings("contains-setsid", c.pk_feature_str(c.PK_FEATURE_CONTAINS_SETSID).?);
}

test "names: the public enums' names" {
    try testing.expectEqualStrings("cgroup-v2", pk.Backend.cgroup_v2.name());
    try testing.expectEqualStrings("process-group", pk.Backend.process_group.name());
    try testing.expectEqualStrings("job-object", pk.Mechanism.job_object.name());
    try testing.expectEqualStrings("timed-out", pk.Outcome.timed_out.name());
    try testing.expectEqualStrings("status-lost", pk.Outcome.status_lost.name());
    try testing.expectEqualStrings("stderr", pk.Stream.stderr.name());
    try testing.expectEqualStrings("keep-tail", pk.Overflow.keep_tail.name());
    try testing.expectEqualStrings("error", pk.Overflow.fail.name());
    try testing.expectEqualStrings("run-ended", pk.ReadyOutcome.run_ended.name());
    try testing.expectEqualStrings("check", pk.ReadyKind.check.name());
    const future: pk.Outcome = @fromBackingInt(77);
    try testing.expectEqualStrings("unknown", future.name());
    // Every tag a public enum shares with the generated enum has its name.
    const pairs = .{
        .{ pk.Backend, pk.c.pk_backend },      .{ pk.Mechanism, pk.c.pk_mechanism },
        .{ pk.Outcome, pk.c.pk_outcome },      .{ pk.Stream, pk.c.pk_stream },
        .{ pk.ReadyKind, pk.c.pk_ready_kind }, .{ pk.ReadyOutcome, pk.c.pk_ready_outcome },
    };
    inline for (pairs) |p| {
        inline for (@typeInfo(p[0]).@"enum".field_names) |field| {
            try testing.expectEqual(@as(i64, @backingInt(@field(p[1], field))), @as(i64, @backingInt(@field(p[0], field))));
            try testing.expectEqualStrings(comptime dashed(field), @field(p[0], field).name());
        }
    }
}

// ---- group operations -----------------------------------------------------

test "group: members, stats, suspend/resume and a graceful shutdown" {
    var group = try pk.Group.init(.{});
    defer group.deinit();
    var child = try group.spawnWith(&.{ "sleep", "30" }, .{ .stdin = .devnull });
    defer child.deinit();
    const pid = try child.pid();
    const members = try group.members(alloc);
    defer alloc.free(members);
    try testing.expect(std.mem.indexOfScalar(i32, members, pid) != null);
    try testing.expect((try group.stats()).live_processes >= 1);
    try testing.expectEqual(@as(?pk.ExitStatus, null), try child.tryWait());

    try group.suspendAll();
    try group.resumeAll();
    const report = try group.shutdown(.{ .grace_ms = 2000 });
    try testing.expect(report.members_before >= 1);
    try testing.expect(report.drained);
    const status = try child.wait(5000);
    try testing.expectEqual(pk.Signal.term, status.signalled.signal);
}
