//! Drives the shared scenario file (tests/scenarios/scenarios.json, see its
//! README) with the binding's public API: every scenario, every expect key.
//! An unknown scenario kind or expect key fails the test.
const std = @import("std");
const pk = @import("processkit");
const options = @import("scenario_options");
const testing = std.testing;
const io = testing.io;
const Value = std.json.Value;

fn nowMs() i64 {
    return std.Io.Timestamp.now(io, .awake).toMilliseconds();
}

fn sleepMs(ms: i64) void {
    io.sleep(.fromMilliseconds(ms), .awake) catch {};
}

/// What a scenario did; null where a kind observes nothing.
const Observed = struct {
    outcome: ?pk.Outcome = null,
    exit_code: ?i32 = null,
    success: ?bool = null,
    stdout: ?[]const u8 = null,
    stderr: ?[]const u8 = null,
    stdout_lines: ?[]const []const u8 = null,
    stderr_lines: ?[]const []const u8 = null,
    elapsed_ms: ?i64 = null,
    ready: ?bool = null,
    runs: ?u32 = null,
    restarts: ?u32 = null,
    stop_reason: ?pk.SuperviseEvent = null,
    grandchild_alive_before_free: ?bool = null,
    grandchild_dead_after_free: ?bool = null,

    fn takeResult(self: *Observed, a: std.mem.Allocator, res: *const pk.Result) !void {
        self.outcome = res.outcome;
        self.exit_code = res.exit_code;
        self.success = res.success;
        self.stdout = try a.dupe(u8, res.stdout);
        self.stderr = try a.dupe(u8, res.stderr);
    }
};

/// Every string of `v` with "{tmp}" replaced by `tmp`, in the arena.
fn substitute(a: std.mem.Allocator, v: Value, tmp: []const u8) !Value {
    return switch (v) {
        .string => |s| .{ .string = try std.mem.replaceOwned(u8, a, s, "{tmp}", tmp) },
        .array => |arr| blk: {
            var out = std.json.Array.init(a);
            for (arr.items) |item| try out.append(try substitute(a, item, tmp));
            break :blk .{ .array = out };
        },
        .object => |obj| blk: {
            var out: std.json.ObjectMap = .empty;
            var it = obj.iterator();
            while (it.next()) |e| try out.put(a, try std.mem.replaceOwned(u8, a, e.key_ptr.*, "{tmp}", tmp), try substitute(a, e.value_ptr.*, tmp));
            break :blk .{ .object = out };
        },
        else => v,
    };
}

fn field(obj: std.json.ObjectMap, key: []const u8) !Value {
    return obj.get(key) orelse {
        std.debug.print("scenario: missing field {s}\n", .{key});
        return error.ScenarioField;
    };
}

fn int(obj: std.json.ObjectMap, key: []const u8) !i64 {
    const v = try field(obj, key);
    if (v != .integer) return error.ScenarioField;
    return v.integer;
}

fn flag(obj: std.json.ObjectMap, key: []const u8) bool {
    const v = obj.get(key) orelse return false;
    return v == .bool and v.bool;
}

fn argvOf(a: std.mem.Allocator, v: Value) ![]const [:0]const u8 {
    if (v != .array) return error.ScenarioField;
    const out = try a.alloc([:0]const u8, v.array.items.len);
    for (v.array.items, out) |s, *d| d.* = try a.dupeSentinel(u8, s.string, 0);
    return out;
}

const Lines = struct {
    a: std.mem.Allocator,
    out: std.ArrayList([]const u8) = .empty,
    err: std.ArrayList([]const u8) = .empty,

    fn on(self: *Lines, stream: pk.Stream, line: []const u8) void {
        const list = if (stream == .stdout) &self.out else &self.err;
        const copy = self.a.dupe(u8, line) catch @panic("out of memory");
        list.append(self.a, copy) catch @panic("out of memory");
    }
};

fn cancelLater(token: pk.CancelToken, ms: i64) void {
    sleepMs(ms);
    token.trigger() catch {};
}

fn doRun(a: std.mem.Allocator, s: std.json.ObjectMap, obs: *Observed) !void {
    var cmd = try pk.Command.initArgv(try argvOf(a, try field(s, "argv")));
    defer cmd.deinit();
    if (s.get("timeout_ms")) |t| try cmd.timeoutDuration(.fromMilliseconds(t.integer), .{});
    if (flag(s, "pty")) try cmd.pty(.{});
    var lines: Lines = .{ .a = a };
    if (flag(s, "stream_lines")) try cmd.onEvent(&lines, Lines.on);
    var token = try pk.CancelToken.init();
    defer token.deinit();
    var thread: ?std.Thread = null;
    const start = nowMs();
    if (s.get("cancel_after_ms")) |ms| {
        try cmd.cancelOn(token);
        thread = try std.Thread.spawn(.{}, cancelLater, .{ token, ms.integer });
    }
    const res = cmd.run(testing.allocator);
    obs.elapsed_ms = nowMs() - start;
    if (thread) |t| t.join();
    var r = try res;
    defer r.deinit();
    try obs.takeResult(a, &r);
    if (flag(s, "stream_lines")) {
        obs.stdout_lines = lines.out.items;
        obs.stderr_lines = lines.err.items;
    }
}

fn procStart(pid: i32) ?u64 {
    var path_buf: [64]u8 = undefined;
    const path = std.fmt.bufPrint(&path_buf, "/proc/{d}/stat", .{pid}) catch return null;
    var buf: [1024]u8 = undefined;
    const text = std.Io.Dir.cwd().readFile(io, path, &buf) catch return null;
    const close = std.mem.lastIndexOfScalar(u8, text, ')') orelse return null;
    var it = std.mem.tokenizeScalar(u8, text[close + 1 ..], ' ');
    var n: usize = 3;
    while (it.next()) |tok| : (n += 1) {
        if (n == 3 and (std.mem.eql(u8, tok, "Z") or std.mem.eql(u8, tok, "X"))) return null; // a zombie is dead
        if (n == 22) return std.fmt.parseInt(u64, tok, 10) catch null;
    }
    return null;
}

fn doGroup(a: std.mem.Allocator, s: std.json.ObjectMap, expect: std.json.ObjectMap, obs: *Observed) !void {
    var group = try pk.Group.init(.{});
    var live = true;
    defer if (live) group.deinit();
    var child = try group.spawnWith(try argvOf(a, try field(s, "argv")), .{ .stdin = .devnull });
    defer child.deinit();
    const pid_file = (try field(s, "pid_file")).string;
    const deadline = nowMs() + try int(s, "pid_file_wait_max_ms");
    const pid: i32 = while (true) : (sleepMs(20)) {
        var buf: [32]u8 = undefined;
        if (std.Io.Dir.cwd().readFile(io, pid_file, &buf)) |text| {
            break try std.fmt.parseInt(i32, std.mem.trim(u8, text, " \n"), 10);
        } else |_| if (nowMs() > deadline) return error.PidFileMissing;
    };
    const start = procStart(pid) orelse return error.GrandchildNotRunning;
    obs.grandchild_alive_before_free = true;
    group.deinit();
    live = false;
    const max = if (expect.get("grandchild_dead_after_free_max_ms")) |v| v.integer else 10000;
    const until = nowMs() + max;
    obs.grandchild_dead_after_free = while (true) : (sleepMs(20)) {
        if ((procStart(pid) orelse 0) != start) break true;
        if (nowMs() > until) break false;
    };
}

fn doPipeline(a: std.mem.Allocator, s: std.json.ObjectMap, obs: *Observed) !void {
    var pl = try pk.Pipeline.init();
    defer pl.deinit();
    const stages = (try field(s, "stages")).array.items;
    const cmds = try a.alloc(pk.Command, stages.len);
    var made: usize = 0;
    defer for (cmds[0..made]) |*c| c.deinit();
    for (stages) |st| {
        cmds[made] = try pk.Command.initArgv(try argvOf(a, st));
        made += 1;
        try pl.add(cmds[made - 1], .{});
    }
    const start = nowMs();
    var res = try pl.run(testing.allocator);
    obs.elapsed_ms = nowMs() - start;
    defer res.deinit();
    try testing.expectEqual(stages.len, res.stages.len);
    try obs.takeResult(a, &res);
}

fn doStart(a: std.mem.Allocator, s: std.json.ObjectMap, obs: *Observed) !void {
    var cmd = try pk.Command.initArgv(try argvOf(a, try field(s, "argv")));
    defer cmd.deinit();
    var loop = try pk.Loop.init();
    defer loop.deinit();
    const start = nowMs();
    var proc = try loop.start(cmd);
    defer proc.deinit();
    const pattern = try a.dupeSentinel(u8, (try field(s, "wait_for_line")).string, 0);
    const within: pk.Duration = .fromMilliseconds(try int(s, "ready_timeout_ms"));
    obs.ready = if (proc.waitForLineWithin(null, pattern, .regex, within)) true else |_| false;
    const then = (try field(s, "then")).string;
    if (!std.mem.eql(u8, then, "cancel")) {
        std.debug.print("scenario: unknown then {s}\n", .{then});
        return error.UnknownThen;
    }
    try proc.cancel();
    try loop.waitAll(&.{proc}, 10_000);
    obs.elapsed_ms = nowMs() - start;
    var res = try proc.result(testing.allocator);
    defer res.deinit();
    try obs.takeResult(a, &res);
}

fn doSupervise(a: std.mem.Allocator, s: std.json.ObjectMap, obs: *Observed) !void {
    var cmd = try pk.Command.initArgv(try argvOf(a, try field(s, "argv")));
    defer cmd.deinit();
    const restart = std.meta.stringToEnum(pk.Restart, (try field(s, "restart")).string) orelse return error.ScenarioField;
    const start = nowMs();
    const rep = try cmd.supervise(.{
        .restart = restart,
        .max_restarts = @intCast(try int(s, "max_restarts")),
        .backoff_initial = .fromMilliseconds(try int(s, "backoff_initial_ms")),
    }, null);
    obs.elapsed_ms = nowMs() - start;
    obs.runs = rep.runs;
    obs.restarts = rep.restarts;
    obs.stop_reason = rep.stop_reason;
}

fn doRetry(a: std.mem.Allocator, s: std.json.ObjectMap, obs: *Observed) !void {
    var cmd = try pk.Command.initArgv(try argvOf(a, try field(s, "argv")));
    defer cmd.deinit();
    const start = nowMs();
    var res = try cmd.runRetry(testing.allocator, .{
        .max_attempts = @intCast(try int(s, "max_attempts")),
        .initial_delay = .fromMilliseconds(try int(s, "initial_delay_ms")),
    });
    obs.elapsed_ms = nowMs() - start;
    defer res.deinit();
    try obs.takeResult(a, &res);
}

fn expectLines(want: Value, got: ?[]const []const u8) !void {
    const lines = got orelse return error.KeyDoesNotApply;
    try testing.expectEqual(want.array.items.len, lines.len);
    for (want.array.items, lines) |w, g| try testing.expectEqualStrings(w.string, g);
}

fn check(a: std.mem.Allocator, expect: std.json.ObjectMap, obs: *const Observed) !void {
    var it = expect.iterator();
    while (it.next()) |e| {
        const key = e.key_ptr.*;
        const want = e.value_ptr.*;
        errdefer std.debug.print("scenario: expect key {s} failed\n", .{key});
        if (std.mem.eql(u8, key, "outcome")) {
            try testing.expectEqualStrings(want.string, @tagName(obs.outcome orelse return error.KeyDoesNotApply));
        } else if (std.mem.eql(u8, key, "exit_code")) {
            try testing.expectEqual(@as(?i32, @intCast(want.integer)), obs.exit_code);
        } else if (std.mem.eql(u8, key, "success")) {
            try testing.expectEqual(want.bool, obs.success orelse return error.KeyDoesNotApply);
        } else if (std.mem.eql(u8, key, "stdout")) {
            try testing.expectEqualStrings(want.string, obs.stdout orelse return error.KeyDoesNotApply);
        } else if (std.mem.eql(u8, key, "stderr")) {
            try testing.expectEqualStrings(want.string, obs.stderr orelse return error.KeyDoesNotApply);
        } else if (std.mem.eql(u8, key, "stdout_lines")) {
            try expectLines(want, obs.stdout_lines);
        } else if (std.mem.eql(u8, key, "stderr_lines")) {
            try expectLines(want, obs.stderr_lines);
        } else if (std.mem.eql(u8, key, "stdout_lines_crlf_stripped")) {
            const out = obs.stdout orelse return error.KeyDoesNotApply;
            const no_cr = try std.mem.replaceOwned(u8, a, out, "\r", "");
            var lines: std.ArrayList([]const u8) = .empty;
            var split = std.mem.tokenizeScalar(u8, no_cr, '\n');
            while (split.next()) |l| try lines.append(a, l);
            try expectLines(want, lines.items);
        } else if (std.mem.eql(u8, key, "elapsed_min_ms")) {
            try testing.expect((obs.elapsed_ms orelse return error.KeyDoesNotApply) >= want.integer);
        } else if (std.mem.eql(u8, key, "elapsed_max_ms")) {
            try testing.expect((obs.elapsed_ms orelse return error.KeyDoesNotApply) <= want.integer);
        } else if (std.mem.eql(u8, key, "ready")) {
            try testing.expectEqual(want.bool, obs.ready orelse return error.KeyDoesNotApply);
        } else if (std.mem.eql(u8, key, "runs")) {
            try testing.expectEqual(want.integer, obs.runs orelse return error.KeyDoesNotApply);
        } else if (std.mem.eql(u8, key, "restarts")) {
            try testing.expectEqual(want.integer, obs.restarts orelse return error.KeyDoesNotApply);
        } else if (std.mem.eql(u8, key, "stop_reason")) {
            try testing.expectEqualStrings(want.string, @tagName(obs.stop_reason orelse return error.KeyDoesNotApply));
        } else if (std.mem.eql(u8, key, "file_lines")) {
            var files = want.object.iterator();
            while (files.next()) |f| {
                const text = try std.Io.Dir.cwd().readFileAlloc(io, f.key_ptr.*, a, .limited(1 << 20));
                try testing.expectEqual(f.value_ptr.integer, @as(i64, @intCast(std.mem.count(u8, text, "\n"))));
            }
        } else if (std.mem.eql(u8, key, "file_text")) {
            var files = want.object.iterator();
            while (files.next()) |f| {
                const text = try std.Io.Dir.cwd().readFileAlloc(io, f.key_ptr.*, a, .limited(1 << 20));
                try testing.expectEqualStrings(f.value_ptr.string, text);
            }
        } else if (std.mem.eql(u8, key, "grandchild_alive_before_free")) {
            try testing.expectEqual(want.bool, obs.grandchild_alive_before_free orelse return error.KeyDoesNotApply);
        } else if (std.mem.eql(u8, key, "grandchild_dead_after_free_max_ms")) {
            try testing.expect(obs.grandchild_dead_after_free orelse return error.KeyDoesNotApply);
        } else {
            std.debug.print("scenario: unknown expect key {s}\n", .{key});
            return error.UnknownExpectKey;
        }
    }
}

const known = [_][]const u8{ "group_teardown", "capture", "timeout", "cancel", "streaming", "pipeline", "readiness", "pty", "supervise", "retry" };

test "scenarios: every scenario of tests/scenarios/scenarios.json, every expect key" {
    var arena: std.heap.ArenaAllocator = .init(testing.allocator);
    defer arena.deinit();
    const a = arena.allocator();
    const bytes = try std.Io.Dir.cwd().readFileAlloc(io, options.scenarios_path, a, .limited(1 << 20));
    const root = try std.json.parseFromSliceLeaky(Value, a, bytes, .{});
    try testing.expectEqualStrings("processkit-scenarios", root.object.get("format").?.string);
    try testing.expectEqual(@as(i64, 1), root.object.get("version").?.integer);
    var ran: usize = 0;
    for (root.object.get("scenarios").?.array.items) |raw| {
        const name = raw.object.get("name").?.string;
        for (known) |k| {
            if (std.mem.eql(u8, k, name)) break;
        } else {
            std.debug.print("scenario: unknown scenario {s}\n", .{name});
            return error.UnknownScenario;
        }
        var tmp = testing.tmpDir(.{});
        defer tmp.cleanup();
        const tmp_path = try tmp.dir.realPathFileAlloc(io, ".", a);
        const s = (try substitute(a, raw, tmp_path)).object;
        const expect = (try field(s, "expect")).object;
        const kind = (try field(s, "kind")).string;
        errdefer std.debug.print("scenario {s} ({s}) failed\n", .{ name, kind });
        var obs: Observed = .{};
        if (std.mem.eql(u8, kind, "run")) {
            try doRun(a, s, &obs);
        } else if (std.mem.eql(u8, kind, "group")) {
            try doGroup(a, s, expect, &obs);
        } else if (std.mem.eql(u8, kind, "pipeline")) {
            try doPipeline(a, s, &obs);
        } else if (std.mem.eql(u8, kind, "start")) {
            try doStart(a, s, &obs);
        } else if (std.mem.eql(u8, kind, "supervise")) {
            try doSupervise(a, s, &obs);
        } else if (std.mem.eql(u8, kind, "retry")) {
            try doRetry(a, s, &obs);
        } else {
            std.debug.print("scenario: unknown kind {s}\n", .{kind});
            return error.UnknownKind;
        }
        try check(a, expect, &obs);
        ran += 1;
    }
    try testing.expectEqual(known.len, ran);
}
