// Retry and supervision on Windows, under wine: the layers above one run,
// on the handle loop and the job-object backend.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <io.h>
#include <winsock2.h>
#include <windows.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "processkit.h"
#include "support/proc_util.h"
#include "win_test_util.h"

namespace {

using pkwin::Child;
using pkwin::ReadCount;

TEST(WinRetry, RunsAgainUntilItSucceeds)
{
    std::string counter = pkwin::TempPath("count");
    pk_command *cmd = Child({"count", counter, "3"});
    pk_retry_options o = PK_RETRY_OPTIONS_INIT;
    o.max_attempts = 5;
    o.initial_delay_ms = 10;
    o.jitter = 0;
    pk_result *r = nullptr;
    ASSERT_EQ(pk_command_run_retry(cmd, &o, nullptr, nullptr, &r), PK_OK) << pk_last_error();
    pk_run_info info = PK_RUN_INFO_INIT;
    ASSERT_EQ(pk_result_info(r, &info), PK_OK);
    EXPECT_TRUE(info.success);
    EXPECT_EQ(info.mechanism, PK_MECHANISM_JOB_OBJECT);
    EXPECT_EQ(ReadCount(counter), 3) << "three attempts, the third succeeding";
    pk_result_free(r);
    pk_command_free(cmd);
    DeleteFileA(counter.c_str());
}

TEST(WinRetry, GivesUpAfterMaxAttempts)
{
    std::string counter = pkwin::TempPath("count");
    pk_command *cmd = Child({"count", counter, "100"});
    pk_retry_options o = PK_RETRY_OPTIONS_INIT;
    o.max_attempts = 2;
    o.initial_delay_ms = 10;
    pk_result *r = nullptr;
    ASSERT_EQ(pk_command_run_retry(cmd, &o, nullptr, nullptr, &r), PK_OK) << pk_last_error();
    pk_run_info info = PK_RUN_INFO_INIT;
    pk_result_info(r, &info);
    EXPECT_FALSE(info.success);
    EXPECT_EQ(info.exit_code, 1);
    EXPECT_EQ(ReadCount(counter), 2);
    pk_result_free(r);
    pk_command_free(cmd);
    DeleteFileA(counter.c_str());
}

TEST(WinRetry, CancelDuringTheBackoffEndsAtOnce)
{
    std::string counter = pkwin::TempPath("count");
    pk_cancel *token = nullptr;
    ASSERT_EQ(pk_cancel_new(&token), PK_OK);
    pk_command *cmd = Child({"count", counter, "100"});
    ASSERT_EQ(pk_command_cancel_on(cmd, token), PK_OK);
    pk_retry_options o = PK_RETRY_OPTIONS_INIT;
    o.max_attempts = 3;
    o.initial_delay_ms = 60000; // the cancel must cut this short
    o.jitter = 0;
    std::thread canceller([token] {
        Sleep(500);
        pk_cancel_trigger(token);
    });
    DWORD t0 = GetTickCount();
    pk_result *r = nullptr;
    EXPECT_EQ(pk_command_run_retry(cmd, &o, nullptr, nullptr, &r), PK_ERR_CANCELLED);
    canceller.join();
    EXPECT_LT(GetTickCount() - t0, 20000u);
    EXPECT_EQ(ReadCount(counter), 1);
    pk_command_free(cmd);
    pk_cancel_free(token);
    DeleteFileA(counter.c_str());
}

struct Events {
    std::vector<int32_t> seen;
};

void Record(void *user, int32_t event, uint32_t, uint32_t, pk_result *)
{
    static_cast<Events *>(user)->seen.push_back(event);
}

TEST(WinSupervise, RestartsOnFailureThenGivesUp)
{
    std::string counter = pkwin::TempPath("count");
    pk_command *cmd = Child({"count", counter, "100"});
    pk_supervise_options o = PK_SUPERVISE_OPTIONS_INIT;
    o.max_restarts = 2;
    o.backoff_initial_ms = 10;
    o.jitter = 0;
    Events ev;
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    ASSERT_EQ(pk_supervise(cmd, &o, Record, nullptr, &ev, nullptr, &rep), PK_OK) << pk_last_error();
    EXPECT_EQ(rep.runs, 3u);
    EXPECT_EQ(rep.restarts, 2u);
    EXPECT_EQ(rep.stop_reason, PK_SUPERVISE_GAVE_UP);
    EXPECT_EQ(ReadCount(counter), 3);
    EXPECT_EQ(ev.seen.back(), PK_SUPERVISE_GAVE_UP);
    pk_command_free(cmd);
    DeleteFileA(counter.c_str());
}

TEST(WinSupervise, StopTokenEndsTheRunAndItsTree)
{
    pk_cancel *stop = nullptr;
    ASSERT_EQ(pk_cancel_new(&stop), PK_OK);
    std::string marker = pkwin::TempPath("grandchild");
    // The run prints its grandchild's pid into a file of ours via stdout.
    int fd = _open(marker.c_str(), _O_WRONLY | _O_CREAT | _O_TRUNC | _O_BINARY, 0600);
    ASSERT_GE(fd, 0);
    pk_command *cmd = Child({"grandchild", "sleep", "600000"});
    ASSERT_EQ(pk_command_output(cmd, PK_STREAM_STDOUT, PK_OUTPUT_FD, fd), PK_OK);
    pk_supervise_options o = PK_SUPERVISE_OPTIONS_INIT;
    o.restart = PK_RESTART_ALWAYS;
    std::thread stopper([stop] {
        Sleep(800);
        pk_cancel_trigger(stop);
    });
    DWORD t0 = GetTickCount();
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    EXPECT_EQ(pk_supervise(cmd, &o, nullptr, nullptr, nullptr, stop, &rep), PK_OK) << pk_last_error();
    DWORD took = GetTickCount() - t0;
    stopper.join();
    _close(fd);
    EXPECT_EQ(rep.runs, 1u);
    EXPECT_EQ(rep.stop_reason, PK_SUPERVISE_STOPPED);
    // No polite signal on Windows: the stop is the kill, without the 2 s grace.
    EXPECT_LT(took, 2700u);
    pktest::ProcId gc = pktest::Identify((pid_t)pktest::ReadPidFile(marker, 5000));
    EXPECT_FALSE(pktest::Alive(gc)) << "the supervised run's grandchild survived the stop";
    pk_command_free(cmd);
    pk_cancel_free(stop);
    DeleteFileA(marker.c_str());
}

struct ReadyRun {
    pk_loop *loop = nullptr;
    pk_command *cmd = nullptr;
    pk_process *proc = nullptr;
    ~ReadyRun()
    {
        if (proc) {
            pk_process_cancel(proc);
            pk_loop_wait_all(loop, &proc, 1, 30000);
            pk_process_free(proc);
        }
        pk_command_free(cmd);
        pk_loop_free(loop);
    }
};

void StartReady(ReadyRun *r, const std::vector<std::string> &args)
{
    ASSERT_EQ(pk_loop_new(&r->loop), PK_OK);
    r->cmd = Child(args);
    ASSERT_EQ(pk_loop_start(r->loop, r->cmd, nullptr, &r->proc), PK_OK) << pk_last_error();
}

TEST(WinReadiness, WaitsForALine)
{
    ReadyRun r;
    StartReady(&r, {"out", "starting\n", "sleep", "300", "err", "server ready on 8080\n", "sleep", "600000"});
    EXPECT_EQ(pk_process_wait_for_line(r.proc, 0, "ready on", 0, 20000), PK_OK) << pk_last_error();
    int32_t done = 1;
    EXPECT_EQ(pk_process_done(r.proc, &done), PK_OK);
    EXPECT_EQ(done, 0) << "a probe never kills";
}

TEST(WinReadiness, NotReadyQuotesTheLastLines)
{
    ReadyRun r;
    StartReady(&r, {"out", "booting\n", "sleep", "600000"});
    EXPECT_EQ(pk_process_wait_for_line(r.proc, PK_STREAM_STDOUT, "never printed", 0, 400), PK_ERR_NOT_READY);
    std::string msg = pk_last_error();
    EXPECT_NE(msg.find("booting"), std::string::npos) << msg;
    EXPECT_EQ(pk_process_wait_for_line(r.proc, 0, "boot.*", PK_MATCH_REGEX, 100), PK_ERR_UNSUPPORTED);
}

TEST(WinReadiness, WaitsForAPortAndForAPredicate)
{
    // A free loopback port: bind to 0, read it back, let it go.
    WSADATA wsa;
    ASSERT_EQ(WSAStartup(MAKEWORD(2, 2), &wsa), 0);
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(s, (sockaddr *)&addr, sizeof addr), 0);
    int len = sizeof addr;
    ASSERT_EQ(getsockname(s, (sockaddr *)&addr, &len), 0);
    uint16_t port = ntohs(addr.sin_port);
    closesocket(s);

    ReadyRun r;
    StartReady(&r, {"sleep", "300", "listen", std::to_string(port), "sleep", "600000"});
    EXPECT_EQ(pk_process_wait_for_port(r.proc, port, 20000), PK_OK) << pk_last_error();

    int calls = 0;
    auto third_time = [](void *user) -> int { return ++*static_cast<int *>(user) >= 3; };
    EXPECT_EQ(pk_process_wait_for(r.proc, third_time, &calls, 20, 5000), PK_OK) << pk_last_error();
    EXPECT_EQ(calls, 3);
    WSACleanup();
}

} // namespace
