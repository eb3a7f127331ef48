//! The runner seam and its doubles (docs/replay.md), and the README quickstart.
const std = @import("std");
const pk = @import("processkit");
const testing = std.testing;
const io = testing.io;
const alloc = testing.allocator;

// README quickstart begin
/// Code under test takes a pk.Runner: real runs in production, a double in tests.
fn gitHead(runner: pk.Runner, allocator: std.mem.Allocator) ![]u8 {
    var res = try runner.runChecked(allocator, .{ .argv = &.{ "git", "rev-parse", "HEAD" } });
    defer res.deinit();
    return allocator.dupe(u8, std.mem.trimEnd(u8, res.stdout, "\n"));
}

test "quickstart" {
    const allocator = std.testing.allocator;

    // Run and capture. A non-zero exit is data; check() makes it an error.
    var cmd = try pk.Command.initArgv(&.{ "sh", "-c", "echo hi; exit 3" });
    defer cmd.deinit();
    try cmd.timeoutDuration(.fromSeconds(10), .{ .signal = .term, .grace = .fromMilliseconds(500) });
    var res = try cmd.run(allocator);
    defer res.deinit();
    try std.testing.expectEqual(@as(?i32, 3), res.exit_code);
    try std.testing.expectEqualStrings("hi\n", res.stdout);
    try std.testing.expectError(error.Failed, res.check());

    // A pipeline, `printf | sort`, without a shell.
    var produce = try pk.Command.initArgv(&.{ "printf", "b\\na\\n" });
    defer produce.deinit();
    var sort = try pk.Command.initArgv(&.{"sort"});
    defer sort.deinit();
    var pipeline = try pk.Pipeline.init();
    defer pipeline.deinit();
    try pipeline.add(produce, .{});
    try pipeline.add(sort, .{});
    var sorted = try pipeline.runChecked(allocator);
    defer sorted.deinit();
    try std.testing.expectEqualStrings("a\nb\n", sorted.stdout);

    // The same caller code against a scripted double: nothing is spawned.
    var scripted = pk.ScriptedRunner.init(allocator);
    defer scripted.deinit();
    try scripted.expect(&.{ "git", "rev-parse" }, .{ .ok = "3f9c2e1\n" });
    const head = try gitHead(scripted.runner(), allocator);
    defer allocator.free(head);
    try std.testing.expectEqualStrings("3f9c2e1", head);
}
// README quickstart end

test "scripted: answers by argv prefix, records calls, and names an unexpected argv" {
    var s = pk.ScriptedRunner.init(alloc);
    defer s.deinit();
    try s.expect(&.{ "git", "fetch" }, .{ .fail = .{ .exit_code = 2, .stderr = "no such ref\n" } });
    try s.expect(&.{"sleep"}, .timeout);
    try s.expect(&.{"kill-me"}, .{ .signalled = .kill });
    try s.expect(&.{"stop"}, .cancelled);
    const r = s.runner();

    var failed = try r.run(alloc, .{ .argv = &.{ "git", "fetch", "origin" }, .cwd = "/src", .stdin = "x", .env = &.{.{ .key = "A", .value = "1" }} });
    defer failed.deinit();
    try testing.expectEqual(pk.Outcome.exited, failed.outcome);
    try testing.expectEqual(@as(?i32, 2), failed.exit_code);
    try testing.expect(!failed.success);
    try testing.expectEqualStrings("no such ref\n", failed.stderr);
    try testing.expectError(error.Failed, failed.check());
    try testing.expect(std.mem.indexOf(u8, pk.lastError().message, "no such ref") != null);

    var timed = try r.run(alloc, .{ .argv = &.{ "sleep", "5" } });
    defer timed.deinit();
    try testing.expectEqual(pk.Outcome.timed_out, timed.outcome);
    try testing.expectError(error.Timeout, timed.check());

    var killed = try r.run(alloc, .{ .argv = &.{"kill-me"} });
    defer killed.deinit();
    try testing.expectEqual(pk.Outcome.signalled, killed.outcome);
    try testing.expectEqual(@as(?pk.Signal, .kill), killed.signal);

    var cancelled = try r.run(alloc, .{ .argv = &.{"stop"} });
    defer cancelled.deinit();
    try testing.expectError(error.Cancelled, cancelled.check());

    // Nothing matches: an error whose message names the whole argv.
    try testing.expectError(error.NotFound, r.run(alloc, .{ .argv = &.{ "git", "push", "--force" } }));
    try testing.expectEqualStrings("ScriptedRunner: no expectation matches argv [\"git\",\"push\",\"--force\"]", pk.lastError().message);

    // With a fallback, it answers instead.
    try s.setFallback(.{ .ok = "fallback\n" });
    var fb = try r.run(alloc, .{ .argv = &.{"anything"} });
    defer fb.deinit();
    try testing.expectEqualStrings("fallback\n", fb.stdout);

    const calls = s.calls();
    try testing.expectEqual(@as(usize, 6), calls.len);
    try testing.expectEqualStrings("origin", calls[0].argv[2]);
    try testing.expectEqualStrings("/src", calls[0].cwd.?);
    try testing.expectEqualStrings("x", calls[0].stdin.?);
    try testing.expectEqualStrings("A", calls[0].env[0].key);
    try testing.expectEqualStrings("push", calls[4].argv[1]);
}

fn countLines(dir: std.Io.Dir, name: []const u8) !usize {
    const text = dir.readFileAlloc(io, name, alloc, .limited(1 << 16)) catch |e| switch (e) {
        error.FileNotFound => return 0,
        else => return e,
    };
    defer alloc.free(text);
    return std.mem.count(u8, text, "\n");
}

test "record/replay: a real run recorded to a cassette file replays without spawning" {
    var tmp = testing.tmpDir(.{});
    defer tmp.cleanup();
    const tmp_path = try tmp.dir.realPathFileAlloc(io, ".", alloc);
    defer alloc.free(tmp_path);
    const script = try std.fmt.allocPrint(alloc, "echo ran >> '{s}/side-effect'; echo hello; printf 'warn\\n' >&2; exit 4", .{tmp_path});
    defer alloc.free(script);
    const argv: []const []const u8 = &.{ "sh", "-c", script };

    {
        var real: pk.RealRunner = .{};
        var rec = pk.RecordReplayRunner.record(alloc, real.runner());
        defer rec.deinit();
        var res = try rec.runner().run(alloc, .{ .argv = argv, .cwd = tmp_path });
        defer res.deinit();
        try testing.expectEqual(@as(?i32, 4), res.exit_code);
        try testing.expectEqualStrings("hello\n", res.stdout);
        try rec.save(io, tmp.dir, "cassette.json");
    }
    try testing.expectEqual(@as(usize, 1), try countLines(tmp.dir, "side-effect"));

    const json = try tmp.dir.readFileAlloc(io, "cassette.json", alloc, .limited(1 << 20));
    defer alloc.free(json);
    try testing.expect(std.mem.indexOf(u8, json, "\"format\": \"processkit-cassette\"") != null);
    try testing.expect(std.mem.indexOf(u8, json, "\"outcome\": \"exited\"") != null);

    var rep = try pk.RecordReplayRunner.load(alloc, io, tmp.dir, "cassette.json");
    defer rep.deinit();
    var res = try rep.runner().run(alloc, .{ .argv = argv, .cwd = tmp_path });
    defer res.deinit();
    try testing.expectEqual(pk.Outcome.exited, res.outcome);
    try testing.expectEqual(@as(?i32, 4), res.exit_code);
    try testing.expectEqualStrings("hello\n", res.stdout);
    try testing.expectEqualStrings("warn\n", res.stderr);
    try testing.expectError(error.Failed, res.check());
    // Not spawned: the side effect did not happen again.
    try testing.expectEqual(@as(usize, 1), try countLines(tmp.dir, "side-effect"));
    // Its one answer is used up; another cwd does not match either.
    try testing.expectError(error.NotFound, rep.runner().run(alloc, .{ .argv = argv, .cwd = tmp_path }));
    try testing.expect(std.mem.indexOf(u8, pk.lastError().message, "side-effect") != null);
}

test "record/replay: stdout_base64 in a cassette, and non-UTF-8 output recorded as base64" {
    const cassette =
        \\{"format": "processkit-cassette", "version": 1, "future_field": true,
        \\ "interactions": [
        \\  {"argv": ["dump"], "cwd": null, "stdin": null,
        \\   "result": {"outcome": "exited", "exit_code": 0, "signal": 0,
        \\              "stdout_base64": "//4AAQ==", "stderr": "", "duration_ms": 3}},
        \\  {"argv": ["dump"], "cwd": null, "stdin": null,
        \\   "result": {"outcome": "signalled", "exit_code": 0, "signal": 15, "stdout": "second", "stderr": ""}}
        \\ ]}
    ;
    var rep = try pk.RecordReplayRunner.replay(alloc, cassette);
    defer rep.deinit();
    var first = try rep.runner().run(alloc, .{ .argv = &.{"dump"}, .cwd = "/anywhere" });
    defer first.deinit();
    try testing.expectEqualSlices(u8, &.{ 0xff, 0xfe, 0x00, 0x01 }, first.stdout);
    try testing.expect(first.success);
    // The same argv again: the next recorded answer.
    var second = try rep.runner().run(alloc, .{ .argv = &.{"dump"} });
    defer second.deinit();
    try testing.expectEqual(pk.Outcome.signalled, second.outcome);
    try testing.expectEqual(@as(?pk.Signal, .term), second.signal);
    try testing.expectEqualStrings("second", second.stdout);

    // Recording bytes that are not UTF-8 writes stdout_base64, never both.
    var real: pk.RealRunner = .{};
    var rec = pk.RecordReplayRunner.record(alloc, real.runner());
    defer rec.deinit();
    var res = try rec.runner().run(alloc, .{ .argv = &.{ "printf", "\\377\\376" } });
    defer res.deinit();
    const json = try rec.cassetteJson(alloc);
    defer alloc.free(json);
    try testing.expect(std.mem.indexOf(u8, json, "\"stdout_base64\": \"//4=\"") != null);
    try testing.expect(std.mem.indexOf(u8, json, "\"stdout\":") == null);
    var again = try pk.RecordReplayRunner.replay(alloc, json);
    defer again.deinit();
    var replayed = try again.runner().run(alloc, .{ .argv = &.{ "printf", "\\377\\376" } });
    defer replayed.deinit();
    try testing.expectEqualSlices(u8, &.{ 0xff, 0xfe }, replayed.stdout);
}

test "record/replay: a reader refuses another format or version" {
    try testing.expectError(error.Invalid, pk.RecordReplayRunner.replay(alloc, "{\"format\": \"other\", \"version\": 1, \"interactions\": []}"));
    try testing.expectError(error.Invalid, pk.RecordReplayRunner.replay(alloc, "{\"format\": \"processkit-cassette\", \"version\": 2, \"interactions\": []}"));
    try testing.expect(std.mem.indexOf(u8, pk.lastError().message, "version") != null);
    try testing.expectError(error.Invalid, pk.RecordReplayRunner.replay(alloc, "not json"));
}

test "signals, durations, stdio files, user/umask/rlimits, fd map, PTY resize, flags" {
    try testing.expectEqualStrings("SIGTERM", pk.Signal.term.name());
    try testing.expectEqual(@as(i32, 9), pk.Signal.kill.num());
    try testing.expectEqualStrings("unknown", pk.Signal.fromNumber(63).name());

    var tmp = testing.tmpDir(.{});
    defer tmp.cleanup();
    var log = try tmp.dir.createFile(io, "out.log", .{ .read = true });
    defer log.close(io);
    var extra = try tmp.dir.createFile(io, "fd5.txt", .{});
    defer extra.close(io);

    var cmd = try pk.Command.initArgv(&.{ "sh", "-c", "echo to-log; echo on-fd5 >&5; umask; ulimit -n; pwd" });
    defer cmd.deinit();
    try cmd.output(.stderr, .{ .file = log });
    try cmd.mapFile(5, extra);
    try cmd.umask(0o027);
    try cmd.rlimit(.NOFILE, .{ .cur = 64, .max = 64 });
    try cmd.cwdDir(tmp.dir);
    try cmd.user(std.os.linux.getuid(), std.os.linux.getgid(), &.{std.os.linux.getgid()});
    try cmd.newSession(true);
    try cmd.createNoWindow(true); // no effect off Windows; the flag is kept with new_session
    try testing.expectEqual(@as(u32, pk.c.PK_COMMAND_NEW_SESSION | pk.c.PK_COMMAND_NO_WINDOW), cmd.flag_bits);
    var res = try cmd.runChecked(alloc);
    defer res.deinit();
    const tmp_path = try tmp.dir.realPathFileAlloc(io, ".", alloc);
    defer alloc.free(tmp_path);
    const want = try std.fmt.allocPrint(alloc, "to-log\n0027\n64\n{s}\n", .{tmp_path});
    defer alloc.free(want);
    try testing.expectEqualStrings(want, res.stdout);
    try testing.expect(res.duration().toMicroseconds() >= 0);
    var buf: [64]u8 = undefined;
    try testing.expectEqualStrings("on-fd5\n", try tmp.dir.readFile(io, "fd5.txt", &buf));

    // PTY: stty sees the size, resized while it runs.
    var tty = try pk.Command.initArgv(&.{ "sh", "-c", "stty size; read x; stty size" });
    defer tty.deinit();
    try tty.pty(.{ .rows = 30, .cols = 100 });
    var loop = try pk.Loop.init();
    defer loop.deinit();
    var proc = try loop.start(tty);
    defer proc.deinit();
    try proc.waitForLineWithin(.stdout, "30 100", .substring, .fromSeconds(10));
    try proc.resize(.{ .rows = 40, .cols = 120 });
    try proc.write("go\n");
    try loop.waitAll(&.{proc}, 10_000);
    var out = try proc.result(alloc);
    defer out.deinit();
    try testing.expect(std.mem.indexOf(u8, out.stdout, "40 120") != null);
}

test "retry with a classifier, supervise with events and a stop token, waitFor" {
    var cmd = try pk.Command.initArgv(&.{ "sh", "-c", "exit 7" });
    defer cmd.deinit();
    const Seen = struct {
        attempts: u32 = 0,
        fn retry(self: *@This(), a: pk.Attempt) bool {
            self.attempts = a.number;
            return a.exit_code != 7 or a.number < 2; // give up after two
        }
    };
    var seen: Seen = .{};
    var res = try cmd.runRetryClassified(alloc, .{ .max_attempts = 5, .initial_delay = .fromMilliseconds(1) }, &seen, Seen.retry);
    defer res.deinit();
    try testing.expectEqual(@as(u32, 2), seen.attempts);
    try testing.expectEqual(@as(?i32, 7), res.exit_code);

    const Events = struct {
        started: u32 = 0,
        stop: pk.CancelToken,
        fn on(self: *@This(), ev: pk.SuperviseEvent, restarts: u32, delay: pk.Duration) void {
            _ = delay;
            if (ev == .started) self.started += 1;
            if (restarts >= 1) self.stop.trigger() catch {};
        }
    };
    var stop = try pk.CancelToken.init();
    defer stop.deinit();
    var events: Events = .{ .stop = stop };
    var loop_cmd = try pk.Command.initArgv(&.{ "sh", "-c", "exit 0" });
    defer loop_cmd.deinit();
    const rep = try loop_cmd.superviseWith(.{ .restart = .always, .backoff_initial = .fromMilliseconds(5) }, stop, &events, Events.on);
    try testing.expectEqual(pk.SuperviseEvent.stopped, rep.stop_reason);
    try testing.expect(events.started >= 1);
    try testing.expectEqualStrings("stopped", rep.stop_reason.name());

    var sleeper = try pk.Command.initArgv(&.{ "sleep", "30" });
    defer sleeper.deinit();
    var loop = try pk.Loop.init();
    defer loop.deinit();
    var proc = try loop.start(sleeper);
    defer proc.deinit();
    const Counter = struct {
        n: u32 = 0,
        fn ready(self: *@This()) bool {
            self.n += 1;
            return self.n >= 3;
        }
    };
    var counter: Counter = .{};
    try proc.waitFor(&counter, Counter.ready, .fromMilliseconds(5), .fromSeconds(10));
    try testing.expect(counter.n >= 3);
    try testing.expectEqual(pk.ReadyKind.check, (try proc.readiness()).kind);
    try proc.signal(.term);
    try loop.waitAll(&.{proc}, 10_000);
    var done = try proc.result(alloc);
    defer done.deinit();
    try testing.expectEqual(@as(?pk.Signal, .term), done.signal);
}
