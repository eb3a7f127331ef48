//! The runner seam and its test doubles (docs/replay.md).
//!
//! `Runner` is an interface value like std.mem.Allocator: a pointer and a
//! vtable with one call, run an `Invocation` to the end and give back a
//! `Result`. `RealRunner` runs for real (a Command in a private group);
//! `ScriptedRunner` answers from expectations; `RecordReplayRunner` records
//! real runs to a cassette or replays one without spawning. Code that takes
//! a `Runner` never knows which, and the Result is the same type as a real
//! run's, so `check()` and `success` behave alike.
const std = @import("std");
const pk = @import("processkit.zig");

const Error = pk.Error;
const Result = pk.Result;
const Outcome = pk.Outcome;
const Signal = pk.Signal;
const Allocator = std.mem.Allocator;

/// One environment change of an Invocation: set `key` to `value`, or unset it (null).
pub const EnvChange = struct {
    key: []const u8,
    value: ?[]const u8,
};

/// What to run: the data a Runner needs (a Command handle cannot be read back).
pub const Invocation = struct {
    /// Program first.
    argv: []const []const u8,
    cwd: ?[]const u8 = null,
    env: []const EnvChange = &.{},
    /// Bytes given as stdin (null: /dev/null).
    stdin: ?[]const u8 = null,
    /// null: no timeout.
    timeout: ?pk.Duration = null,
};

/// The seam: a type-erased runner, passed by value.
pub const Runner = struct {
    ptr: *anyopaque,
    vtable: *const VTable,

    pub const VTable = struct {
        run: *const fn (ptr: *anyopaque, allocator: Allocator, inv: Invocation) Error!Result,
    };

    /// Run `inv` to the end; a non-zero exit, timeout or cancel is data in the Result.
    pub fn run(self: Runner, allocator: Allocator, inv: Invocation) Error!Result {
        return self.vtable.run(self.ptr, allocator, inv);
    }

    /// run(), and fail unless the run succeeded (Result.check).
    pub fn runChecked(self: Runner, allocator: Allocator, inv: Invocation) Error!Result {
        var res = try self.run(allocator, inv);
        errdefer res.deinit();
        try res.check();
        return res;
    }
};

/// The real runner: each Invocation becomes a Command run in a private group.
pub const RealRunner = struct {
    /// Options of each run's private group.
    group_options: pk.GroupOptions = .{},

    pub fn runner(self: *RealRunner) Runner {
        return .{ .ptr = self, .vtable = &vtable };
    }

    const vtable: Runner.VTable = .{ .run = runErased };

    fn runErased(ptr: *anyopaque, allocator: Allocator, inv: Invocation) Error!Result {
        const self: *RealRunner = @ptrCast(@alignCast(ptr));
        if (inv.argv.len == 0) return pk.raise(error.Invalid, "RealRunner: argv is empty", .{});
        // The C API wants NUL-terminated strings: copy them for the call.
        var arena: std.heap.ArenaAllocator = .init(allocator);
        defer arena.deinit();
        const a = arena.allocator();
        var cmd = try pk.Command.init(try a.dupeSentinel(u8, inv.argv[0], 0));
        defer cmd.deinit();
        for (inv.argv[1..]) |arg| try cmd.arg(try a.dupeSentinel(u8, arg, 0));
        if (inv.cwd) |d| try cmd.cwd(try a.dupeSentinel(u8, d, 0));
        for (inv.env) |e| {
            const key = try a.dupeSentinel(u8, e.key, 0);
            if (e.value) |v| try cmd.env(key, try a.dupeSentinel(u8, v, 0)) else try cmd.envUnset(key);
        }
        if (inv.stdin) |bytes| try cmd.stdinBytes(bytes);
        if (inv.timeout) |t| try cmd.timeoutDuration(t, .{});
        try cmd.groupOptions(self.group_options);
        return cmd.run(allocator);
    }
};

/// A Result made by a double: `success` when it exited 0, else a failure
/// whose message names the program as the library's own check does.
pub fn fakeResult(
    allocator: Allocator,
    argv: []const []const u8,
    outcome: Outcome,
    exit_code: i32,
    signal: i32,
    stdout: []const u8,
    stderr: []const u8,
    duration_us: u64,
) Error!Result {
    const out = try allocator.dupe(u8, stdout);
    errdefer allocator.free(out);
    const err = try allocator.dupe(u8, stderr);
    errdefer allocator.free(err);
    const program = if (argv.len > 0) argv[0] else "";
    const success = outcome == .exited and exit_code == 0;
    var failure: ?Result.Failure = null;
    if (!success) {
        const trimmed = std.mem.trimEnd(u8, stderr, "\n");
        const last = trimmed[if (std.mem.lastIndexOfScalar(u8, trimmed, '\n')) |i| i + 1 else 0..];
        const code: Error, const message = switch (outcome) {
            .exited => .{ error.Failed, try std.fmt.allocPrint(allocator, "{s}: exited with code {d}: {s}", .{ program, exit_code, last }) },
            .signalled => .{ error.Failed, try std.fmt.allocPrint(allocator, "{s}: killed by {s}", .{ program, Signal.fromNumber(signal).name() }) },
            .timed_out => .{ error.Timeout, try std.fmt.allocPrint(allocator, "{s}: timed out", .{program}) },
            .cancelled => .{ error.Cancelled, try std.fmt.allocPrint(allocator, "{s}: cancelled", .{program}) },
            else => .{ error.Failed, try std.fmt.allocPrint(allocator, "{s}: {s}", .{ program, outcome.name() }) },
        };
        failure = .{ .code = pk.errorCode(code), .message = message };
    }
    return .{
        .allocator = allocator,
        .outcome = outcome,
        .exit_code = if (outcome == .exited) exit_code else null,
        .signal = if (signal != 0) Signal.fromNumber(signal) else null,
        .pid = 0,
        .mechanism = .none,
        .success = success,
        .duration_us = duration_us,
        .stdout = out,
        .stderr = err,
        .stdout_truncated = false,
        .stderr_truncated = false,
        .overflowed = false,
        .failure = failure,
    };
}

/// argv as a JSON array, for messages: ["git","push"].
fn argvText(buf: []u8, argv: []const []const u8) []const u8 {
    var w: std.Io.Writer = .fixed(buf);
    std.json.Stringify.value(argv, .{}, &w) catch return buf[0..w.end];
    return w.buffered();
}

fn dupeInvocation(a: Allocator, inv: Invocation) Error!Invocation {
    const argv = try a.alloc([]const u8, inv.argv.len);
    for (inv.argv, argv) |s, *d| d.* = try a.dupe(u8, s);
    const env = try a.alloc(EnvChange, inv.env.len);
    for (inv.env, env) |e, *d| d.* = .{ .key = try a.dupe(u8, e.key), .value = if (e.value) |v| try a.dupe(u8, v) else null };
    return .{
        .argv = argv,
        .cwd = if (inv.cwd) |d| try a.dupe(u8, d) else null,
        .env = env,
        .stdin = if (inv.stdin) |s| try a.dupe(u8, s) else null,
        .timeout = inv.timeout,
    };
}

/// A canned answer of a ScriptedRunner.
pub const Reply = union(enum) {
    /// Exit 0 with this stdout.
    ok: []const u8,
    /// Exit with this code and stderr.
    fail: struct { exit_code: i32, stderr: []const u8 = "" },
    timeout,
    signalled: Signal,
    cancelled,
};

/// Answers each run from the first expectation whose argv prefix matches;
/// an argv nothing matches is error.NotFound naming it in full (unless a
/// fallback is set). Records every invocation for the test to assert on.
pub const ScriptedRunner = struct {
    arena: std.heap.ArenaAllocator,
    expectations: std.ArrayList(Expectation) = .empty,
    invocations: std.ArrayList(Invocation) = .empty,
    fallback: ?Reply = null,

    const Expectation = struct { prefix: []const []const u8, reply: Reply };

    pub fn init(allocator: Allocator) ScriptedRunner {
        return .{ .arena = .init(allocator) };
    }

    pub fn deinit(self: *ScriptedRunner) void {
        self.arena.deinit();
        self.* = undefined;
    }

    /// Answer a run whose argv starts with `prefix` with `reply` (both copied).
    pub fn expect(self: *ScriptedRunner, prefix: []const []const u8, reply: Reply) Error!void {
        const a = self.arena.allocator();
        const copy = (try dupeInvocation(a, .{ .argv = prefix })).argv;
        try self.expectations.append(a, .{ .prefix = copy, .reply = try dupeReply(a, reply) });
    }

    /// Answer every unmatched run with `reply` instead of an error (null: error again).
    pub fn setFallback(self: *ScriptedRunner, reply: ?Reply) Error!void {
        self.fallback = if (reply) |r| try dupeReply(self.arena.allocator(), r) else null;
    }

    /// Every invocation so far, in order (argv, cwd, env changes, stdin).
    pub fn calls(self: *const ScriptedRunner) []const Invocation {
        return self.invocations.items;
    }

    pub fn runner(self: *ScriptedRunner) Runner {
        return .{ .ptr = self, .vtable = &vtable };
    }

    const vtable: Runner.VTable = .{ .run = runErased };

    fn dupeReply(a: Allocator, r: Reply) Error!Reply {
        return switch (r) {
            .ok => |s| .{ .ok = try a.dupe(u8, s) },
            .fail => |f| .{ .fail = .{ .exit_code = f.exit_code, .stderr = try a.dupe(u8, f.stderr) } },
            else => r,
        };
    }

    fn matches(prefix: []const []const u8, argv: []const []const u8) bool {
        if (prefix.len > argv.len) return false;
        for (prefix, argv[0..prefix.len]) |p, s| if (!std.mem.eql(u8, p, s)) return false;
        return true;
    }

    fn runErased(ptr: *anyopaque, allocator: Allocator, inv: Invocation) Error!Result {
        const self: *ScriptedRunner = @ptrCast(@alignCast(ptr));
        const a = self.arena.allocator();
        try self.invocations.append(a, try dupeInvocation(a, inv));
        const reply = for (self.expectations.items) |e| {
            if (matches(e.prefix, inv.argv)) break e.reply;
        } else self.fallback orelse {
            var buf: [768]u8 = undefined;
            return pk.raise(error.NotFound, "ScriptedRunner: no expectation matches argv {s}", .{argvText(&buf, inv.argv)});
        };
        return switch (reply) {
            .ok => |out| fakeResult(allocator, inv.argv, .exited, 0, 0, out, "", 0),
            .fail => |f| fakeResult(allocator, inv.argv, .exited, f.exit_code, 0, "", f.stderr, 0),
            .timeout => fakeResult(allocator, inv.argv, .timed_out, 0, 0, "", "", 0),
            .signalled => |s| fakeResult(allocator, inv.argv, .signalled, 0, s.num(), "", "", 0),
            .cancelled => fakeResult(allocator, inv.argv, .cancelled, 0, 0, "", "", 0),
        };
    }
};

/// One run of a cassette (docs/replay.md, version 1).
pub const Interaction = struct {
    argv: []const []const u8,
    cwd: ?[]const u8,
    stdin: ?[]const u8,
    outcome: Outcome,
    exit_code: i32,
    signal: i32,
    stdout: []const u8,
    stderr: []const u8,
    duration_ms: u64,
};

/// Record mode: runs through `inner` and keeps every run; `save` or
/// `cassetteJson` writes them. Replay mode: answers from a cassette without
/// spawning, by argv (and cwd when one was recorded), same argv in recorded
/// order; a call it holds no (more) answer for is error.NotFound naming the argv.
pub const RecordReplayRunner = struct {
    arena: std.heap.ArenaAllocator,
    mode: Mode,
    inner: ?Runner,
    interactions: std.ArrayList(Interaction) = .empty,
    used: std.ArrayList(bool) = .empty,

    pub const Mode = enum { record, replay };

    /// Record the runs `inner` does.
    pub fn record(allocator: Allocator, inner: Runner) RecordReplayRunner {
        return .{ .arena = .init(allocator), .mode = .record, .inner = inner };
    }

    /// Replay a cassette given as JSON bytes (copied). error.Invalid, with
    /// the reason in lastError(), for anything but a version 1 cassette.
    pub fn replay(allocator: Allocator, cassette_json: []const u8) Error!RecordReplayRunner {
        var self: RecordReplayRunner = .{ .arena = .init(allocator), .mode = .replay, .inner = null };
        errdefer self.arena.deinit();
        try self.parse(cassette_json);
        return self;
    }

    /// Replay the cassette file `path` (relative to `dir`).
    pub fn load(allocator: Allocator, io: std.Io, dir: std.Io.Dir, path: []const u8) (Error || std.Io.Dir.ReadFileAllocError)!RecordReplayRunner {
        const bytes = try dir.readFileAlloc(io, path, allocator, .limited(256 << 20));
        defer allocator.free(bytes);
        return replay(allocator, bytes);
    }

    pub fn deinit(self: *RecordReplayRunner) void {
        self.arena.deinit();
        self.* = undefined;
    }

    /// The runs recorded (or loaded), in order.
    pub fn recorded(self: *const RecordReplayRunner) []const Interaction {
        return self.interactions.items;
    }

    pub fn runner(self: *RecordReplayRunner) Runner {
        return .{ .ptr = self, .vtable = &vtable };
    }

    const vtable: Runner.VTable = .{ .run = runErased };

    fn runErased(ptr: *anyopaque, allocator: Allocator, inv: Invocation) Error!Result {
        const self: *RecordReplayRunner = @ptrCast(@alignCast(ptr));
        switch (self.mode) {
            .record => {
                var res = try self.inner.?.run(allocator, inv);
                errdefer res.deinit();
                const a = self.arena.allocator();
                const copy = try dupeInvocation(a, inv);
                try self.interactions.append(a, .{
                    .argv = copy.argv,
                    .cwd = copy.cwd,
                    .stdin = copy.stdin,
                    .outcome = res.outcome,
                    .exit_code = res.exit_code orelse 0,
                    .signal = if (res.signal) |s| s.num() else 0,
                    .stdout = try a.dupe(u8, res.stdout),
                    .stderr = try a.dupe(u8, res.stderr),
                    .duration_ms = res.duration_us / 1000,
                });
                try self.used.append(a, true);
                return res;
            },
            .replay => {
                for (self.interactions.items, self.used.items) |it, *used| {
                    if (used.* or !eqlArgv(it.argv, inv.argv)) continue;
                    if (it.cwd) |want| {
                        const got = inv.cwd orelse continue;
                        if (!std.mem.eql(u8, want, got)) continue;
                    }
                    used.* = true;
                    return fakeResult(allocator, it.argv, it.outcome, it.exit_code, it.signal, it.stdout, it.stderr, it.duration_ms * 1000);
                }
                var buf: [768]u8 = undefined;
                return pk.raise(error.NotFound, "RecordReplayRunner: the cassette holds no (more) runs of argv {s}", .{argvText(&buf, inv.argv)});
            },
        }
    }

    fn eqlArgv(x: []const []const u8, y: []const []const u8) bool {
        if (x.len != y.len) return false;
        for (x, y) |p, q| if (!std.mem.eql(u8, p, q)) return false;
        return true;
    }

    /// The cassette as JSON (caller frees): stdout/stderr as strings when
    /// they are UTF-8, else as `_base64` fields.
    pub fn cassetteJson(self: *const RecordReplayRunner, allocator: Allocator) Error![]u8 {
        var aw: std.Io.Writer.Allocating = .init(allocator);
        defer aw.deinit();
        self.writeJson(&aw.writer) catch return error.OutOfMemory;
        return aw.toOwnedSlice();
    }

    /// Write the cassette to `path` (relative to `dir`).
    pub fn save(self: *const RecordReplayRunner, io: std.Io, dir: std.Io.Dir, path: []const u8) (Error || std.Io.Dir.WriteFileError)!void {
        const bytes = try self.cassetteJson(self.arena.child_allocator);
        defer self.arena.child_allocator.free(bytes);
        try dir.writeFile(io, .{ .sub_path = path, .data = bytes });
    }

    fn writeJson(self: *const RecordReplayRunner, w: *std.Io.Writer) !void {
        var jw: std.json.Stringify = .{ .writer = w, .options = .{ .whitespace = .indent_2 } };
        try jw.beginObject();
        try jw.objectField("format");
        try jw.write("processkit-cassette");
        try jw.objectField("version");
        try jw.write(1);
        try jw.objectField("interactions");
        try jw.beginArray();
        for (self.interactions.items) |it| {
            try jw.beginObject();
            try jw.objectField("argv");
            try jw.write(it.argv);
            try jw.objectField("cwd");
            try jw.write(it.cwd);
            try jw.objectField("stdin");
            try jw.write(if (it.stdin) |s| (if (std.unicode.utf8ValidateSlice(s)) s else null) else null);
            try jw.objectField("result");
            try jw.beginObject();
            try jw.objectField("outcome");
            try jw.write(@tagName(it.outcome));
            try jw.objectField("exit_code");
            try jw.write(it.exit_code);
            try jw.objectField("signal");
            try jw.write(it.signal);
            try writeBytes(&jw, "stdout", it.stdout);
            try writeBytes(&jw, "stderr", it.stderr);
            try jw.objectField("duration_ms");
            try jw.write(it.duration_ms);
            try jw.endObject();
            try jw.endObject();
        }
        try jw.endArray();
        try jw.endObject();
        try w.writeByte('\n');
    }

    fn writeBytes(jw: *std.json.Stringify, comptime field: []const u8, bytes: []const u8) !void {
        if (std.unicode.utf8ValidateSlice(bytes)) {
            try jw.objectField(field);
            try jw.write(bytes);
            return;
        }
        try jw.objectField(field ++ "_base64");
        try jw.beginWriteRaw();
        try jw.writer.writeByte('"');
        try std.base64.standard.Encoder.encodeWriter(jw.writer, bytes);
        try jw.writer.writeByte('"');
        jw.endWriteRaw();
    }

    fn parse(self: *RecordReplayRunner, bytes: []const u8) Error!void {
        const a = self.arena.allocator();
        const root = std.json.parseFromSliceLeaky(std.json.Value, a, bytes, .{}) catch |e|
            return pk.raise(error.Invalid, "cassette: not JSON ({s})", .{@errorName(e)});
        const obj = asObject(root) orelse return pk.raise(error.Invalid, "cassette: not a JSON object", .{});
        const format = obj.get("format") orelse std.json.Value.null;
        if (format != .string or !std.mem.eql(u8, format.string, "processkit-cassette"))
            return pk.raise(error.Invalid, "cassette: format is not \"processkit-cassette\"", .{});
        const version = obj.get("version") orelse std.json.Value.null;
        if (version != .integer or version.integer != 1)
            return pk.raise(error.Invalid, "cassette: version is not 1 (this reader knows version 1)", .{});
        const list = obj.get("interactions") orelse std.json.Value.null;
        if (list != .array) return pk.raise(error.Invalid, "cassette: interactions is not an array", .{});
        for (list.array.items, 0..) |item, n| {
            const it = try parseInteraction(a, item, n);
            try self.interactions.append(a, it);
            try self.used.append(a, false);
        }
    }

    fn asObject(v: std.json.Value) ?std.json.ObjectMap {
        return if (v == .object) v.object else null;
    }

    fn parseInteraction(a: Allocator, v: std.json.Value, n: usize) Error!Interaction {
        const obj = asObject(v) orelse return pk.raise(error.Invalid, "cassette: interaction {d} is not an object", .{n});
        const argv_v = obj.get("argv") orelse std.json.Value.null;
        if (argv_v != .array or argv_v.array.items.len == 0)
            return pk.raise(error.Invalid, "cassette: interaction {d}: argv is not a non-empty array", .{n});
        const argv = try a.alloc([]const u8, argv_v.array.items.len);
        for (argv_v.array.items, argv) |s, *d| {
            if (s != .string) return pk.raise(error.Invalid, "cassette: interaction {d}: argv holds a non-string", .{n});
            d.* = s.string;
        }
        const res = asObject(obj.get("result") orelse std.json.Value.null) orelse
            return pk.raise(error.Invalid, "cassette: interaction {d}: no result object", .{n});
        const outcome_v = res.get("outcome") orelse std.json.Value.null;
        if (outcome_v != .string) return pk.raise(error.Invalid, "cassette: interaction {d}: no outcome", .{n});
        const outcome = std.meta.stringToEnum(Outcome, outcome_v.string) orelse
            return pk.raise(error.Invalid, "cassette: interaction {d}: unknown outcome \"{s}\"", .{ n, outcome_v.string });
        return .{
            .argv = argv,
            .cwd = optString(obj, "cwd"),
            .stdin = optString(obj, "stdin"),
            .outcome = outcome,
            .exit_code = @intCast(optInt(res, "exit_code")),
            .signal = @intCast(optInt(res, "signal")),
            .stdout = try bytesField(a, res, "stdout", n),
            .stderr = try bytesField(a, res, "stderr", n),
            .duration_ms = @intCast(@max(0, optInt(res, "duration_ms"))),
        };
    }

    fn optString(obj: std.json.ObjectMap, key: []const u8) ?[]const u8 {
        const v = obj.get(key) orelse return null;
        return if (v == .string) v.string else null;
    }

    fn optInt(obj: std.json.ObjectMap, key: []const u8) i64 {
        const v = obj.get(key) orelse return 0;
        return if (v == .integer) std.math.clamp(v.integer, std.math.minInt(i32), std.math.maxInt(i32)) else 0;
    }

    fn bytesField(a: Allocator, obj: std.json.ObjectMap, comptime key: []const u8, n: usize) Error![]const u8 {
        if (optString(obj, key)) |s| return s;
        const b64 = optString(obj, key ++ "_base64") orelse return "";
        const dec = std.base64.standard.Decoder;
        const len = dec.calcSizeForSlice(b64) catch
            return pk.raise(error.Invalid, "cassette: interaction {d}: {s}_base64 is not base64", .{ n, key });
        const out = try a.alloc(u8, len);
        dec.decode(out, b64) catch
            return pk.raise(error.Invalid, "cassette: interaction {d}: {s}_base64 is not base64", .{ n, key });
        return out;
    }
};
