// Readiness probes (pk_process_wait_for_line, _port, and a predicate) on
// real runs.
#include "support/layers_fixture.h"

namespace {

using namespace layers;
using Readiness = Layers;


TEST_F(Readiness, WaitForLineSubstringThenRegex) {
    Cmd cmd = Sh("sleep 0.3; echo booting; echo ready; sleep 30");
    ASSERT_TRUE(cmd);
    Lines lines;
    ASSERT_PK_OK(pk_command_on_line(cmd.get(), PK_STREAM_STDOUT, CollectLine, &lines));
    Loop loop = NewLoop();
    ASSERT_TRUE(loop);
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    auto t0 = Clock::now();
    ASSERT_PK_OK(pk_process_wait_for_line(p.get(), PK_STREAM_STDOUT, "ready", PK_MATCH_SUBSTRING, kLongMs));
    EXPECT_GE(MsSince(t0), 250);
    EXPECT_LT(MsSince(t0), kLongMs);
    EXPECT_FALSE(Done(p.get())) << "a probe must not end the run";
    EXPECT_TRUE(lines.Has(PK_STREAM_STDOUT, "ready")) << "the matched line still reaches on_line";
    // The same line, now by regex (and from the backlog, on either stream).
    EXPECT_PK_OK(pk_process_wait_for_line(p.get(), 0, "^re.dy$", PK_MATCH_REGEX, kLongMs));
    // A regex that only fits the other line.
    EXPECT_PK_OK(pk_process_wait_for_line(p.get(), PK_STREAM_STDOUT, "^boo[a-z]+$", PK_MATCH_REGEX, 0));
    CancelAndWait(loop.get(), p.get());
    Ran ran = ResultOf(p.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("booting\nready\n", ran.out) << "the matched line stays in the capture";
    EXPECT_EQ(PK_OUTCOME_CANCELLED, ran.info.outcome);
}

TEST_F(Readiness, WaitForLineRegexOnStderr) {
    Cmd cmd = Sh("sleep 0.3; echo 'listening on stdout 1' ; echo 'listening on port 8080' >&2; sleep 30");
    ASSERT_TRUE(cmd);
    Loop loop = NewLoop();
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    ASSERT_PK_OK(pk_process_wait_for_line(p.get(), PK_STREAM_STDERR, "port [0-9]+$", PK_MATCH_REGEX, kLongMs));
    // The stdout line does not satisfy a stderr probe, and vice versa.
    EXPECT_PK_ERR(PK_ERR_NOT_READY, pk_process_wait_for_line(p.get(), PK_STREAM_STDOUT, "port", 0, 300));
    EXPECT_PK_ERR(PK_ERR_NOT_READY, pk_process_wait_for_line(p.get(), PK_STREAM_STDERR, "stdout", 0, 300));
    EXPECT_PK_OK(pk_process_wait_for_line(p.get(), 0, "stdout 1", 0, 300));
    CancelAndWait(loop.get(), p.get());
    Ran ran = ResultOf(p.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("listening on port 8080\n", ran.err);
}

TEST_F(Readiness, WaitForLinePrintedBeforeTheProbeCounts) {
    // Without callbacks: the line sits in the capture when the probe starts.
    {
        Cmd cmd = Sh("echo ready; sleep 30");
        ASSERT_TRUE(cmd);
        Loop loop = NewLoop();
        Proc p = Start(loop.get(), cmd.get());
        ASSERT_TRUE(p);
        auto t0 = Clock::now();
        while (MsSince(t0) < 1000)
            ASSERT_PK_OK(pk_loop_run_once(loop.get(), 50));
        // Timeout 0: only what was seen before the call can satisfy it.
        EXPECT_PK_OK(pk_process_wait_for_line(p.get(), PK_STREAM_STDOUT, "ready", 0, 0));
        CancelAndWait(loop.get(), p.get());
    }
    // With a callback that already got the line.
    {
        Cmd cmd = Sh("echo ready; sleep 30");
        ASSERT_TRUE(cmd);
        Lines lines;
        ASSERT_PK_OK(pk_command_on_line(cmd.get(), PK_STREAM_STDOUT, CollectLine, &lines));
        Loop loop = NewLoop();
        Proc p = Start(loop.get(), cmd.get());
        ASSERT_TRUE(p);
        auto t0 = Clock::now();
        while (!lines.Has(PK_STREAM_STDOUT, "ready") && MsSince(t0) < kLongMs)
            ASSERT_PK_OK(pk_loop_run_once(loop.get(), 50));
        ASSERT_TRUE(lines.Has(PK_STREAM_STDOUT, "ready"));
        EXPECT_PK_OK(pk_process_wait_for_line(p.get(), PK_STREAM_STDOUT, "^ready$", PK_MATCH_REGEX, 0));
        EXPECT_EQ(1u, lines.Of(PK_STREAM_STDOUT).size()) << "the probe must not deliver a line twice";
        CancelAndWait(loop.get(), p.get());
    }
}

TEST_F(Readiness, WaitForLineNeverReadyLeavesTheRunAlone) {
    Cmd cmd = Sh("echo starting; echo still-booting; sleep 30");
    ASSERT_TRUE(cmd);
    Loop loop = NewLoop();
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    int32_t pid = 0;
    ASSERT_PK_OK(pk_process_pid(p.get(), &pid));
    pktest::ProcId id = pktest::Identify(pid);
    auto t0 = Clock::now();
    int rc = pk_process_wait_for_line(p.get(), PK_STREAM_STDOUT, "ready", 0, 700);
    int64_t took = MsSince(t0);
    std::string msg = pk_last_error();
    EXPECT_EQ(PK_ERR_NOT_READY, rc) << msg;
    EXPECT_GE(took, 650);
    EXPECT_LT(took, 700 + kLongMs);
    EXPECT_TRUE(Contains(msg, "still-booting")) << msg;
    EXPECT_TRUE(Contains(msg, "starting")) << msg;
    EXPECT_TRUE(Contains(msg, "ready")) << msg;
    // Not killed: still running, same process.
    EXPECT_FALSE(Done(p.get()));
    EXPECT_TRUE(pktest::Alive(id));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ASSERT_PK_OK(pk_loop_run_once(loop.get(), 0));
    EXPECT_FALSE(Done(p.get()));
    EXPECT_TRUE(pktest::Alive(id));
    CancelAndWait(loop.get(), p.get());
    Ran ran = ResultOf(p.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(PK_OUTCOME_CANCELLED, ran.info.outcome);
    EXPECT_EQ("starting\nstill-booting\n", ran.out);
}

int FileAppearedNever(void*) { return 0; }

TEST_F(Readiness, WaitForLineRunEndsFirst) {
    Cmd cmd = Sh("echo bye; exit 3");
    ASSERT_TRUE(cmd);
    Loop loop = NewLoop();
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    auto t0 = Clock::now();
    int rc = pk_process_wait_for_line(p.get(), 0, "ready", 0, 60000);
    std::string msg = pk_last_error();
    EXPECT_EQ(PK_ERR_NOT_READY, rc) << msg;
    EXPECT_LT(MsSince(t0), 5000) << "the probe waited past the end of the run";
    EXPECT_TRUE(Contains(msg, "bye")) << msg;
    EXPECT_TRUE(Contains(msg, "ended")) << msg;
    EXPECT_TRUE(Done(p.get()));
    Ran ran = ResultOf(p.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(3, ran.info.exit_code);
    // Probing a finished run fails at once as well. Its output now belongs
    // to the result, so even a line it did print does not count: a run that
    // has ended is not ready.
    t0 = Clock::now();
    EXPECT_PK_ERR(PK_ERR_NOT_READY, pk_process_wait_for_line(p.get(), 0, "ready", 0, 60000));
    EXPECT_PK_ERR(PK_ERR_NOT_READY, pk_process_wait_for_line(p.get(), 0, "bye", 0, 60000));
    EXPECT_PK_ERR(PK_ERR_NOT_READY, pk_process_wait_for_port(p.get(), 1, 60000));
    EXPECT_PK_ERR(PK_ERR_NOT_READY, pk_process_wait_for(p.get(), FileAppearedNever, nullptr, 10, 60000));
    EXPECT_LT(MsSince(t0), 5000);
}

TEST_F(Readiness, WaitForLineBadInput) {
    Cmd cmd = NewCmd({"sleep", "30"});
    ASSERT_TRUE(cmd);
    Loop loop = NewLoop();
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_process_wait_for_line(p.get(), 0, "(", PK_MATCH_REGEX, 1000));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_process_wait_for_line(p.get(), 0, "a[", PK_MATCH_REGEX, 1000));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_process_wait_for_line(p.get(), 0, nullptr, 0, 1000));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_process_wait_for_line(p.get(), 3, "x", 0, 1000));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_process_wait_for_line(p.get(), 0, "x", 1u << 4, 1000));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_process_wait_for_line(p.get(), 0, "x", 0, -2));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_process_wait_for_port(p.get(), 0, 1000));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_process_wait_for(p.get(), nullptr, nullptr, 10, 1000));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_process_wait_for_line(nullptr, 0, "x", 0, 1000));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_process_wait_for_port(nullptr, 80, 1000));
    EXPECT_PK_ERR(PK_ERR_HANDLE,
                  pk_process_wait_for_line(reinterpret_cast<pk_process*>(loop.get()), 0, "x", 0, 1000));
    // None of that touched the run; a good probe still works afterwards.
    EXPECT_FALSE(Done(p.get()));
    EXPECT_PK_ERR(PK_ERR_NOT_READY, pk_process_wait_for_line(p.get(), 0, "(x|y)", PK_MATCH_REGEX, 100));
    EXPECT_FALSE(Done(p.get()));
    CancelAndWait(loop.get(), p.get());
}

TEST_F(Readiness, WaitForPort) {
    const char* python = "/usr/bin/python3";
    if (access(python, X_OK) != 0)
        GTEST_SKIP() << "no " << python;
    uint16_t port = FreePort();
    ASSERT_NE(0, port);
    std::string script =
        "import socket, time\n"
        "time.sleep(0.3)\n"
        "s = socket.socket()\n"
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('127.0.0.1', " +
        std::to_string(port) +
        "))\n"
        "s.listen(16)\n"
        "print('listening', flush=True)\n"
        "time.sleep(30)\n";
    Cmd cmd = NewCmd({python, "-c", script});
    ASSERT_TRUE(cmd);
    Loop loop = NewLoop();
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    auto t0 = Clock::now();
    ASSERT_PK_OK(pk_process_wait_for_port(p.get(), port, kLongMs));
    EXPECT_GE(MsSince(t0), 250);
    EXPECT_FALSE(Done(p.get()));
    // The loop kept reading while the probe waited.
    EXPECT_PK_OK(pk_process_wait_for_line(p.get(), PK_STREAM_STDOUT, "listening", 0, kLongMs));
    CancelAndWait(loop.get(), p.get());
    Ran ran = ResultOf(p.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("listening\n", ran.out) << ran.err;
}

TEST_F(Readiness, WaitForPortNobodyOpens) {
    uint16_t port = FreePort();
    ASSERT_NE(0, port);
    Cmd cmd = Sh("echo up; sleep 30");
    ASSERT_TRUE(cmd);
    Loop loop = NewLoop();
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    auto t0 = Clock::now();
    int rc = pk_process_wait_for_port(p.get(), port, 600);
    std::string msg = pk_last_error();
    EXPECT_EQ(PK_ERR_NOT_READY, rc) << msg;
    EXPECT_GE(MsSince(t0), 550);
    EXPECT_LT(MsSince(t0), 600 + kLongMs);
    EXPECT_TRUE(Contains(msg, std::to_string(port))) << msg;
    EXPECT_FALSE(Done(p.get()));
    CancelAndWait(loop.get(), p.get());
}

struct FileProbe {
    std::string path;
    std::atomic<int> calls{0};
};
int FileAppeared(void* user) {
    FileProbe* f = static_cast<FileProbe*>(user);
    f->calls++;
    return PathExists(f->path) ? 1 : 0;
}

TEST_F(Readiness, WaitForPredicate) {
    FileProbe probe;
    probe.path = tmp_.File("ready-flag");
    Cmd cmd = Sh("sleep 0.3; touch '" + probe.path + "'; sleep 30");
    ASSERT_TRUE(cmd);
    Loop loop = NewLoop();
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    auto t0 = Clock::now();
    ASSERT_PK_OK(pk_process_wait_for(p.get(), FileAppeared, &probe, 20, kLongMs));
    EXPECT_GE(MsSince(t0), 250);
    EXPECT_TRUE(PathExists(probe.path));
    EXPECT_GE(probe.calls.load(), 2) << "the predicate is polled";
    EXPECT_FALSE(Done(p.get()));

    // A predicate that never holds: NOT_READY, the run untouched.
    FileProbe never;
    never.path = tmp_.File("never");
    t0 = Clock::now();
    EXPECT_PK_ERR(PK_ERR_NOT_READY, pk_process_wait_for(p.get(), FileAppeared, &never, 50, 400));
    EXPECT_GE(MsSince(t0), 350);
    EXPECT_FALSE(Done(p.get()));
    CancelAndWait(loop.get(), p.get());
}

// ===========================================================================

// The outcome of the last probe as data (pk_process_readiness), so a
// binding never parses the message.
TEST_F(Readiness, OutcomeAsData) {
    Cmd cmd = Sh("echo starting; echo listening on 1234; sleep 30");
    ASSERT_TRUE(cmd);
    Loop loop = NewLoop();
    ASSERT_TRUE(loop);
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    pk_readiness_info info = PK_READINESS_INFO_INIT;
    ASSERT_PK_OK(pk_process_readiness(p.get(), &info));
    EXPECT_EQ(PK_READY_NONE, info.kind);
    EXPECT_EQ(PK_READY_PENDING, info.outcome);

    ASSERT_PK_OK(pk_process_wait_for_line(p.get(), PK_STREAM_STDOUT, "listening", PK_MATCH_SUBSTRING, kLongMs));
    info = PK_READINESS_INFO_INIT;
    ASSERT_PK_OK(pk_process_readiness(p.get(), &info));
    EXPECT_EQ(PK_READY_LINE, info.kind);
    EXPECT_EQ(PK_READY_MET, info.outcome);
    EXPECT_EQ(PK_STREAM_STDOUT, info.stream);
    EXPECT_EQ(2u, info.lines_seen);
    EXPECT_STREQ("listening on 1234", info.last_line);
    EXPECT_LT(info.waited_us, static_cast<uint64_t>(kLongMs) * 1000u);

    EXPECT_PK_ERR(PK_ERR_NOT_READY, pk_process_wait_for_line(p.get(), 0, "never printed", 0, 200));
    info = PK_READINESS_INFO_INIT;
    ASSERT_PK_OK(pk_process_readiness(p.get(), &info));
    EXPECT_EQ(PK_READY_TIMED_OUT, info.outcome);
    EXPECT_GE(info.waited_us, 150000u);
    EXPECT_STREQ("listening on 1234", info.last_line);

    uint16_t port = FreePort();
    ASSERT_NE(0, port);
    EXPECT_PK_ERR(PK_ERR_NOT_READY, pk_process_wait_for_port(p.get(), port, 100));
    info = PK_READINESS_INFO_INIT;
    ASSERT_PK_OK(pk_process_readiness(p.get(), &info));
    EXPECT_EQ(PK_READY_PORT, info.kind);
    EXPECT_EQ(PK_READY_TIMED_OUT, info.outcome);
    EXPECT_EQ(port, info.port);

    // pk_loop_wake from another thread ends a probe with no timeout.
    std::thread waker([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        EXPECT_PK_OK(pk_loop_wake(loop.get()));
    });
    auto t0 = Clock::now();
    EXPECT_PK_ERR(PK_ERR_CANCELLED, pk_process_wait_for_line(p.get(), 0, "never printed", 0, -1));
    waker.join();
    EXPECT_LT(MsSince(t0), kLongMs);
    info = PK_READINESS_INFO_INIT;
    ASSERT_PK_OK(pk_process_readiness(p.get(), &info));
    EXPECT_EQ(PK_READY_WOKEN, info.outcome);
    EXPECT_FALSE(Done(p.get())) << "a wake leaves the run alone";

    EXPECT_PK_ERR(PK_ERR_INVALID, pk_process_readiness(p.get(), nullptr));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_process_readiness(nullptr, &info));
    CancelAndWait(loop.get(), p.get());
}

}  // namespace
