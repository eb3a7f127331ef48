// The higher layers with real processes: pipelines (pk_pipeline_*),
// readiness probes (pk_process_wait_for_*), process attributes (user,
// umask, rlimits, cwd fd, fd map) and PTY runs.
//
// Every test leaves nothing behind: the fixture checks that this process has
// no child (live or zombie; the library's pk-keeper aside), no cgroup leaf
// and no extra fd after the test, and kills every grandchild a test learned
// of (by pid plus start time, so a recycled pid is never touched). Temporary
// files live in a TempDir removed with the fixture.
//
// The privilege tests need root (they switch to nobody, 65534); they skip
// otherwise.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "processkit.h"
#include "support/pk_test.h"
#include "support/proc_util.h"

namespace {

using pktest::Cmd;
using pktest::Loop;
using pktest::Proc;
using pktest::Result;
using pktest::Cancel;
using pktest::Pipeline;
using pktest::Group;

using Clock = std::chrono::steady_clock;

// Generous bound for anything that should happen "soon". Not a timing goal.
constexpr int kLongMs = 10000;

int64_t MsSince(Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}


bool Contains(const std::string& hay, const std::string& needle) {
    return hay.find(needle) != std::string::npos;
}

bool PathExists(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0;
}

// Plain read(2) of a small file ("" if it cannot be read).
std::string ReadText(const std::string& path) {
    std::string out;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return out;
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        out.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return out;
}

// Reads from fd until EOF (the caller has closed every write end it holds).
std::string ReadToEof(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, kLongMs) <= 0)
            break;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

// Owns both ends of a pipe; closes whatever is still open.
struct Pipe {
    int r = -1, w = -1;
    bool Open() {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0)
            return false;
        r = fds[0];
        w = fds[1];
        return true;
    }
    void CloseRead() {
        if (r >= 0)
            close(r);
        r = -1;
    }
    void CloseWrite() {
        if (w >= 0)
            close(w);
        w = -1;
    }
    ~Pipe() {
        CloseRead();
        CloseWrite();
    }
};

// The session id and process group of a live process (from /proc/PID/stat).
bool SessionOf(pid_t pid, long* pgrp, long* sid, long* tty) {
    std::string text = ReadText("/proc/" + std::to_string(pid) + "/stat");
    size_t close_paren = text.rfind(')');
    if (close_paren == std::string::npos)
        return false;
    std::istringstream rest(text.substr(close_paren + 2));
    char state;
    long ppid;
    return static_cast<bool>(rest >> state >> ppid >> *pgrp >> *sid >> *tty);
}

// A TCP port on 127.0.0.1 that was free a moment ago (bound to 0, read, closed).
uint16_t FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    uint16_t port = 0;
    if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(fd, reinterpret_cast<struct sockaddr*>(&addr), &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

// ---- RAII for library handles --------------------------------------------


Cmd NewCmd(const std::vector<std::string>& args) {
    pk_command* c = nullptr;
    int rc = pk_command_new(args[0].c_str(), &c);
    EXPECT_EQ(PK_OK, rc) << pk_last_error();
    if (rc != PK_OK)
        return Cmd();
    for (size_t i = 1; i < args.size(); i++)
        EXPECT_EQ(PK_OK, pk_command_arg(c, args[i].c_str())) << pk_last_error();
    return Cmd(c);
}

Cmd Sh(const std::string& script) { return NewCmd({"sh", "-c", script}); }

Loop NewLoop() {
    pk_loop* l = nullptr;
    EXPECT_EQ(PK_OK, pk_loop_new(&l)) << pk_last_error();
    return Loop(l);
}

Cancel NewCancel() {
    pk_cancel* c = nullptr;
    EXPECT_EQ(PK_OK, pk_cancel_new(&c)) << pk_last_error();
    return Cancel(c);
}

Pipeline NewPipeline() {
    pk_pipeline* p = nullptr;
    EXPECT_EQ(PK_OK, pk_pipeline_new(&p)) << pk_last_error();
    return Pipeline(p);
}

Group NewGroup() {
    pk_group* g = nullptr;
    EXPECT_EQ(PK_OK, pk_group_create(nullptr, &g)) << pk_last_error();
    return Group(g);
}

// Everything about a finished run, copied out of its result.
struct Ran {
    int rc = -100;  // of pk_command_run / pk_pipeline_run / pk_process_result
    std::string error;
    pk_run_info info = PK_RUN_INFO_INIT;
    std::string out, err;
    int check = -100;  // pk_result_check
    std::string check_msg;
    std::vector<pk_run_info> stages;  // pk_result_stage_info for every stage
};

Ran Describe(pk_result* r) {
    Ran ran;
    ran.rc = PK_OK;
    EXPECT_EQ(PK_OK, pk_result_info(r, &ran.info)) << pk_last_error();
    const uint8_t* data = nullptr;
    size_t len = 0;
    EXPECT_EQ(PK_OK, pk_result_output(r, PK_STREAM_STDOUT, &data, &len)) << pk_last_error();
    ran.out.assign(reinterpret_cast<const char*>(data), len);
    EXPECT_EQ(PK_OK, pk_result_output(r, PK_STREAM_STDERR, &data, &len)) << pk_last_error();
    ran.err.assign(reinterpret_cast<const char*>(data), len);
    for (uint32_t i = 0; i < ran.info.stage_count; i++) {
        pk_run_info s = PK_RUN_INFO_INIT;
        EXPECT_EQ(PK_OK, pk_result_stage_info(r, i, &s)) << pk_last_error();
        ran.stages.push_back(s);
    }
    pk_run_info past = PK_RUN_INFO_INIT;
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_result_stage_info(r, ran.info.stage_count, &past));
    ran.check = pk_result_check(r);
    ran.check_msg = pk_last_error();
    return ran;
}

Ran RunCmd(pk_command* cmd) {
    pk_result* r = nullptr;
    int rc = pk_command_run(cmd, &r);
    if (rc != PK_OK) {
        Ran ran;
        ran.rc = rc;
        ran.error = pk_last_error();
        return ran;
    }
    Result owner(r);
    return Describe(r);
}

Ran RunPipeline(pk_pipeline* pl) {
    pk_result* r = nullptr;
    int rc = pk_pipeline_run(pl, &r);
    if (rc != PK_OK) {
        Ran ran;
        ran.rc = rc;
        ran.error = pk_last_error();
        EXPECT_EQ(nullptr, r);
        return ran;
    }
    Result owner(r);
    return Describe(r);
}

Ran ResultOf(pk_process* p) {
    pk_result* r = nullptr;
    int rc = pk_process_result(p, &r);
    if (rc != PK_OK) {
        Ran ran;
        ran.rc = rc;
        ran.error = pk_last_error();
        return ran;
    }
    Result owner(r);
    return Describe(r);
}

Proc Start(pk_loop* loop, pk_command* cmd, pk_group* group = nullptr) {
    pk_process* p = nullptr;
    EXPECT_EQ(PK_OK, pk_loop_start(loop, cmd, group, &p)) << pk_last_error();
    return Proc(p);
}

bool Done(pk_process* p) {
    int32_t done = -1;
    EXPECT_EQ(PK_OK, pk_process_done(p, &done)) << pk_last_error();
    return done != 0;
}

// Cancels a run and drives its loop until it is finished.
void CancelAndWait(pk_loop* loop, pk_process* p) {
    EXPECT_PK_OK(pk_process_cancel(p));
    EXPECT_PK_OK(pk_loop_wait_all(loop, &p, 1, kLongMs));
}

// Collects lines from pk_line_fn callbacks.
struct Lines {
    std::mutex mu;
    std::vector<std::pair<int, std::string>> got;
    std::vector<std::string> Of(int stream) {
        std::lock_guard<std::mutex> lock(mu);
        std::vector<std::string> out;
        for (auto& e : got)
            if (e.first == stream)
                out.push_back(e.second);
        return out;
    }
    bool Has(int stream, const std::string& line) {
        std::vector<std::string> all = Of(stream);
        return std::find(all.begin(), all.end(), line) != all.end();
    }
};
void CollectLine(void* user, int32_t stream, const char* line, size_t len) {
    Lines* l = static_cast<Lines*>(user);
    std::lock_guard<std::mutex> lock(l->mu);
    l->got.emplace_back(stream, std::string(line, len));
}

#define ASSERT_RAN(ran)                                                   \
    do {                                                                  \
        ASSERT_EQ(PK_OK, (ran).rc) << "the run failed: " << (ran).error; \
    } while (0)

bool HostHasCgroupV2() {
    pk_containment c = PK_CONTAINMENT_INIT;
    return pk_host_probe(PK_BACKEND_AUTO, &c) == PK_OK && c.mechanism == PK_MECHANISM_CGROUP_V2;
}

class Layers : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        // Read the host facts once (pthread_once) before any fd is counted.
        pk_containment c = PK_CONTAINMENT_INIT;
        (void)pk_host_probe(PK_BACKEND_AUTO, &c);
    }
    void SetUp() override {
        ASSERT_TRUE(pktest::NoChildren()) << "a child exists before the test";
        ASSERT_FALSE(tmp_.path().empty()) << "no temporary directory";
        fds_before_ = pktest::OpenFdCount();
    }
    void TearDown() override {
        for (const pktest::ProcId& id : strays_)
            pktest::KillIfAlive(id);
        for (const pktest::ProcId& id : strays_)
            EXPECT_TRUE(pktest::WaitDead(id, kLongMs)) << "stray pid " << id.pid << " survived teardown";
        EXPECT_TRUE(pktest::NoChildren()) << "the test left a child process behind";
        EXPECT_TRUE(pktest::OurCgroupLeaves().empty()) << "the test left a cgroup behind";
        EXPECT_EQ(fds_before_, pktest::OpenFdCount()) << "the test leaked or closed fds";
    }

    // Reads a pid file a test script writes, and remembers the process so
    // teardown kills it should the test fail half-way.
    pktest::ProcId Learn(const std::string& pid_file) {
        pid_t pid = pktest::ReadPidFile(pid_file, kLongMs);
        EXPECT_GT(pid, 0) << "no pid in " << pid_file;
        pktest::ProcId id = pktest::Identify(pid);
        EXPECT_NE(0u, id.start_time) << "pid " << pid << " from " << pid_file << " is not running";
        if (id.start_time)
            strays_.push_back(id);
        return id;
    }

    pktest::TempDir tmp_;
    std::vector<pktest::ProcId> strays_;  // grandchildren to kill at the end
    int fds_before_ = -1;
};

// ===========================================================================
// 1. Pipelines

TEST_F(Layers, PipelineThreeStages) {
    Cmd a = NewCmd({"printf", "b\\na\\nc\\n"});
    Cmd b = NewCmd({"sort"});
    Cmd c = NewCmd({"tr", "a-z", "A-Z"});
    ASSERT_TRUE(a && b && c);
    Pipeline pl = NewPipeline();
    ASSERT_TRUE(pl);
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), b.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), c.get(), 0));
    Ran ran = RunPipeline(pl.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("A\nB\nC\n", ran.out);
    EXPECT_EQ("", ran.err);
    EXPECT_EQ(1, ran.info.success);
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.info.outcome);
    EXPECT_EQ(0, ran.info.exit_code);
    EXPECT_EQ(3u, ran.info.stage_count);
    EXPECT_EQ(-1, ran.info.failed_stage);
    EXPECT_EQ(PK_OK, ran.check) << ran.check_msg;
    EXPECT_EQ(6u, ran.info.stdout_bytes);
    ASSERT_EQ(3u, ran.stages.size());
    for (size_t i = 0; i < 3; i++) {
        EXPECT_EQ(PK_OUTCOME_EXITED, ran.stages[i].outcome) << "stage " << i;
        EXPECT_EQ(0, ran.stages[i].exit_code) << "stage " << i;
        EXPECT_EQ(1, ran.stages[i].success) << "stage " << i;
        EXPECT_GT(ran.stages[i].pid, 0) << "stage " << i;
    }
    EXPECT_NE(ran.stages[0].pid, ran.stages[1].pid);
    EXPECT_NE(ran.stages[1].pid, ran.stages[2].pid);
    // The whole pipeline shares one group: the mechanism of the host's auto pick.
    if (HostHasCgroupV2())
        EXPECT_EQ(PK_MECHANISM_CGROUP_V2, ran.info.mechanism);

    // The pipeline is reusable: a second run gives the same.
    Ran again = RunPipeline(pl.get());
    ASSERT_RAN(again);
    EXPECT_EQ("A\nB\nC\n", again.out);
    EXPECT_EQ(1, again.info.success);
}

TEST_F(Layers, PipelineFailingMiddleStage) {
    Cmd a = NewCmd({"echo", "x"});
    Cmd b = Sh("cat; echo mid-failed >&2; exit 4");
    Cmd c = NewCmd({"cat"});
    ASSERT_TRUE(a && b && c);
    Pipeline pl = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), b.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), c.get(), 0));
    Ran ran = RunPipeline(pl.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("x\n", ran.out);  // the last stage still got the data
    EXPECT_EQ(0, ran.info.success);
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.info.outcome);
    EXPECT_EQ(4, ran.info.exit_code);
    EXPECT_EQ(1, ran.info.failed_stage);
    EXPECT_EQ(3u, ran.info.stage_count);
    ASSERT_EQ(3u, ran.stages.size());
    EXPECT_EQ(0, ran.stages[0].exit_code);
    EXPECT_EQ(4, ran.stages[1].exit_code);
    EXPECT_EQ(0, ran.stages[2].exit_code);
    EXPECT_EQ(ran.stages[1].pid, ran.info.pid) << "the outcome is the failed stage's";
    EXPECT_EQ(PK_ERR_FAILED, ran.check);
    EXPECT_TRUE(Contains(ran.check_msg, "stage 2 of 3")) << ran.check_msg;
    EXPECT_TRUE(Contains(ran.check_msg, "code 4")) << ran.check_msg;

    // Pipefail picks the FIRST failing stage.
    Cmd d = Sh("cat; exit 7");
    ASSERT_TRUE(d);
    Pipeline two = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(two.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(two.get(), b.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(two.get(), d.get(), 0));
    ran = RunPipeline(two.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(1, ran.info.failed_stage);
    EXPECT_EQ(4, ran.info.exit_code);
    ASSERT_EQ(3u, ran.stages.size());
    EXPECT_EQ(7, ran.stages[2].exit_code);
}

TEST_F(Layers, PipelineSigpipedProducerIsNotAFailureByDefault) {
    struct Producer {
        const char* name;
        std::vector<std::string> argv;
    };
    // yes itself (killed by SIGPIPE), a shell that may exec it, and a shell
    // that surely reports it as exit code 128 + SIGPIPE.
    const Producer producers[] = {
        {"yes", {"yes"}},
        {"sh -c yes", {"sh", "-c", "yes"}},
        {"sh -c 'yes; exit $?'", {"sh", "-c", "yes; exit $?"}},
    };
    for (const Producer& prod : producers) {
        SCOPED_TRACE(prod.name);
        Cmd a = NewCmd(prod.argv);
        Cmd b = NewCmd({"head", "-n", "2"});
        ASSERT_TRUE(a && b);
        Pipeline pl = NewPipeline();
        ASSERT_PK_OK(pk_pipeline_add(pl.get(), a.get(), 0));
        ASSERT_PK_OK(pk_pipeline_add(pl.get(), b.get(), 0));
        Ran ran = RunPipeline(pl.get());
        ASSERT_RAN(ran);
        EXPECT_EQ("y\ny\n", ran.out);
        EXPECT_EQ(1, ran.info.success);
        EXPECT_EQ(-1, ran.info.failed_stage);
        EXPECT_EQ(PK_OK, ran.check) << ran.check_msg;
        ASSERT_EQ(2u, ran.stages.size());
        const pk_run_info& y = ran.stages[0];
        bool sigpiped = (y.outcome == PK_OUTCOME_SIGNALLED && y.signal == SIGPIPE) ||
                        (y.outcome == PK_OUTCOME_EXITED && y.exit_code == 128 + SIGPIPE);
        EXPECT_TRUE(sigpiped) << "producer outcome " << y.outcome << " code " << y.exit_code << " signal "
                              << y.signal;
        EXPECT_EQ(0, y.success);

        // With SIGPIPE_FAILS the same run fails, attributed to the producer.
        ASSERT_PK_OK(pk_pipeline_flags(pl.get(), PK_PIPELINE_SIGPIPE_FAILS));
        ran = RunPipeline(pl.get());
        ASSERT_RAN(ran);
        EXPECT_EQ("y\ny\n", ran.out);
        EXPECT_EQ(0, ran.info.success);
        EXPECT_EQ(0, ran.info.failed_stage);
        EXPECT_EQ(PK_ERR_FAILED, ran.check);
        EXPECT_TRUE(Contains(ran.check_msg, "stage 1 of 2")) << ran.check_msg;
        if (ran.info.outcome == PK_OUTCOME_SIGNALLED)
            EXPECT_EQ(SIGPIPE, ran.info.signal);
        else
            EXPECT_EQ(128 + SIGPIPE, ran.info.exit_code);
        // Flags back to 0: not a failure again.
        ASSERT_PK_OK(pk_pipeline_flags(pl.get(), 0));
        ran = RunPipeline(pl.get());
        ASSERT_RAN(ran);
        EXPECT_EQ(1, ran.info.success);
    }
}

TEST_F(Layers, PipelineUncheckedStageDoesNotFail) {
    Cmd a = NewCmd({"echo", "x"});
    Cmd b = Sh("cat; exit 4");
    Cmd c = NewCmd({"cat"});
    ASSERT_TRUE(a && b && c);
    Pipeline pl = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), b.get(), PK_STAGE_UNCHECKED));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), c.get(), 0));
    Ran ran = RunPipeline(pl.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("x\n", ran.out);
    EXPECT_EQ(1, ran.info.success);
    EXPECT_EQ(-1, ran.info.failed_stage);
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.info.outcome);
    EXPECT_EQ(0, ran.info.exit_code);
    EXPECT_EQ(PK_OK, ran.check) << ran.check_msg;
    ASSERT_EQ(3u, ran.stages.size());
    EXPECT_EQ(4, ran.stages[1].exit_code) << "the stage info still tells the truth";
    EXPECT_EQ(0, ran.stages[1].success);

    // An unchecked LAST stage too: its own exit code is reported, but no failure.
    Cmd d = Sh("cat >/dev/null; exit 9");
    ASSERT_TRUE(d);
    Pipeline two = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(two.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(two.get(), d.get(), PK_STAGE_UNCHECKED));
    ran = RunPipeline(two.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(-1, ran.info.failed_stage);
    EXPECT_EQ(1, ran.info.success);
    EXPECT_EQ(PK_OK, ran.check) << ran.check_msg;
}

// A pipeline run on another thread, so this one can watch its processes.
struct BackgroundPipeline {
    Ran ran;
    int64_t elapsed_ms = -1;
    std::thread thread;
    void Start(pk_pipeline* pl) {
        thread = std::thread([this, pl] {
            auto t0 = Clock::now();
            ran = RunPipeline(pl);
            elapsed_ms = MsSince(t0);
        });
    }
    void Join() {
        if (thread.joinable())
            thread.join();
    }
    ~BackgroundPipeline() { Join(); }
};

TEST_F(Layers, PipelineTimeoutTearsDownEveryStage) {
    // Each stage leaves a background grandchild; the middle one ignores
    // SIGTERM (and so does its sleep, which inherits the disposition), so
    // only the SIGKILL after the grace ends it.
    std::vector<Cmd> cmds;
    cmds.push_back(Sh("sleep 30 & echo $! > " + tmp_.File("F1") + "; wait"));
    cmds.push_back(Sh("trap '' TERM; sleep 30 & echo $! > " + tmp_.File("F2") + "; wait; wait"));
    cmds.push_back(Sh("sleep 30 & echo $! > " + tmp_.File("F3") + "; wait"));
    Pipeline pl = NewPipeline();
    for (Cmd& c : cmds) {
        ASSERT_TRUE(c);
        ASSERT_PK_OK(pk_pipeline_add(pl.get(), c.get(), 0));
    }
    const uint32_t timeout_ms = 2000, grace_ms = 500;
    ASSERT_PK_OK(pk_pipeline_timeout(pl.get(), timeout_ms, 0, grace_ms));
    BackgroundPipeline bg;
    bg.Start(pl.get());
    std::vector<pktest::ProcId> ids;
    for (const char* f : {"F1", "F2", "F3"})
        ids.push_back(Learn(tmp_.File(f)));
    bg.Join();
    ASSERT_RAN(bg.ran);
    EXPECT_EQ(PK_OUTCOME_TIMED_OUT, bg.ran.info.outcome);
    EXPECT_EQ(0, bg.ran.info.success);
    EXPECT_EQ(PK_ERR_TIMEOUT, bg.ran.check) << bg.ran.check_msg;
    EXPECT_GE(bg.elapsed_ms, static_cast<int64_t>(timeout_ms + grace_ms) - 50);
    EXPECT_LT(bg.elapsed_ms, static_cast<int64_t>(timeout_ms + grace_ms) + kLongMs);
    ASSERT_EQ(3u, bg.ran.stages.size());
    EXPECT_EQ(SIGTERM, bg.ran.stages[0].signal);
    EXPECT_EQ(SIGKILL, bg.ran.stages[1].signal) << "the TERM-ignoring stage needed the SIGKILL";
    EXPECT_EQ(SIGTERM, bg.ran.stages[2].signal);
    for (const pktest::ProcId& id : ids)
        EXPECT_TRUE(pktest::WaitDead(id, 2000)) << "grandchild " << id.pid << " outlived the pipeline";
}

TEST_F(Layers, PipelineCancelFromAnotherThread) {
    std::vector<Cmd> cmds;
    for (const char* f : {"F1", "F2", "F3"})
        cmds.push_back(Sh("sleep 30 & echo $! > " + tmp_.File(f) + "; wait"));
    Cancel token = NewCancel();
    Pipeline pl = NewPipeline();
    ASSERT_TRUE(token && pl);
    for (Cmd& c : cmds) {
        ASSERT_TRUE(c);
        ASSERT_PK_OK(pk_pipeline_add(pl.get(), c.get(), 0));
    }
    ASSERT_PK_OK(pk_pipeline_cancel_on(pl.get(), token.get()));
    BackgroundPipeline bg;
    bg.Start(pl.get());
    std::vector<pktest::ProcId> ids;
    for (const char* f : {"F1", "F2", "F3"})
        ids.push_back(Learn(tmp_.File(f)));
    auto t0 = Clock::now();
    ASSERT_PK_OK(pk_cancel_trigger(token.get()));
    bg.Join();
    EXPECT_LT(MsSince(t0), kLongMs);
    ASSERT_RAN(bg.ran);
    EXPECT_EQ(PK_OUTCOME_CANCELLED, bg.ran.info.outcome);
    EXPECT_EQ(0, bg.ran.info.success);
    EXPECT_EQ(PK_ERR_CANCELLED, bg.ran.check) << bg.ran.check_msg;
    for (const pktest::ProcId& id : ids)
        EXPECT_TRUE(pktest::WaitDead(id, 2000)) << "grandchild " << id.pid << " outlived the pipeline";
    ASSERT_EQ(3u, bg.ran.stages.size());
    for (const pk_run_info& s : bg.ran.stages)
        EXPECT_NE(PK_OUTCOME_EXITED, s.outcome) << "no stage ended by itself";
}

// Keeps this process's fd 0 safe across a call that might close it: makes
// sure one is open, remembers what it is, and puts it back if it changed.
class StdinGuard {
  public:
    StdinGuard() {
        if (fcntl(0, F_GETFD) < 0)
            opened_ = open("/dev/null", O_RDONLY) == 0;
        saved_ = fcntl(0, F_DUPFD_CLOEXEC, 3);
        fstat(0, &st_);
    }
    bool Intact() const {
        struct stat now;
        return fcntl(0, F_GETFD) >= 0 && fstat(0, &now) == 0 && now.st_dev == st_.st_dev && now.st_ino == st_.st_ino;
    }
    // Puts fd 0 back (call right after the suspect call, before anything
    // else can take the number).
    void Restore() {
        if (!Intact() && saved_ >= 0)
            dup2(saved_, 0);
    }
    ~StdinGuard() {
        Restore();
        if (saved_ >= 0)
            close(saved_);
        if (opened_)
            close(0);
    }

  private:
    int saved_ = -1;
    bool opened_ = false;
    struct stat st_;
};

TEST_F(Layers, PipelineFailingBeforeStartClosesNothing) {
    Cmd a = NewCmd({"echo", "x"});
    Cmd b = NewCmd({"cat"});
    Cmd c = NewCmd({"cat"});
    Cancel token = NewCancel();
    ASSERT_TRUE(a && b && c && token);
    Pipeline pl = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), b.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), c.get(), 0));
    ASSERT_PK_OK(pk_pipeline_cancel_on(pl.get(), token.get()));
    ASSERT_PK_OK(pk_cancel_trigger(token.get()));
    StdinGuard stdin_guard;
    ASSERT_TRUE(stdin_guard.Intact());

    // A token already triggered: nothing starts...
    pk_result* r = nullptr;
    int rc = pk_pipeline_run(pl.get(), &r);
    std::string msg = pk_last_error();
    bool intact = stdin_guard.Intact();
    stdin_guard.Restore();
    EXPECT_EQ(PK_ERR_CANCELLED, rc) << msg;
    EXPECT_EQ(nullptr, r);
    // ...and nothing of the caller's is closed.
    EXPECT_TRUE(intact) << "pk_pipeline_run closed the caller's fd 0";

    // A group that cannot be created (a limit this host may not enforce).
    ASSERT_PK_OK(pk_pipeline_cancel_on(pl.get(), nullptr));
    pk_group_options opts = PK_GROUP_OPTIONS_INIT;
    opts.memory_max = 1ull << 40;
    opts.pids_max = 1000;
    ASSERT_PK_OK(pk_command_group_options(a.get(), &opts));
    r = nullptr;
    rc = pk_pipeline_run(pl.get(), &r);
    msg = pk_last_error();
    intact = stdin_guard.Intact();
    stdin_guard.Restore();
    if (rc == PK_OK) {
        pk_result_free(r);  // this host enforces limits: nothing to see here
    } else {
        EXPECT_EQ(PK_ERR_LIMIT, rc) << msg;
        EXPECT_TRUE(intact) << "pk_pipeline_run closed the caller's fd 0";
    }
}

TEST_F(Layers, PipelineCancelAfterTheFirstStageEnded) {
    Cmd a = NewCmd({"echo", "x"});
    Cmd b = Sh("cat >/dev/null; sleep 12 & echo $! > " + tmp_.File("F") + "; wait");
    Cancel token = NewCancel();
    Pipeline pl = NewPipeline();
    ASSERT_TRUE(a && b && token && pl);
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), b.get(), 0));
    ASSERT_PK_OK(pk_pipeline_cancel_on(pl.get(), token.get()));
    BackgroundPipeline bg;
    bg.Start(pl.get());
    pktest::ProcId sleeper = Learn(tmp_.File("F"));
    // The producer has ended by now (the consumer's cat saw EOF); give the
    // loop a moment to reap it.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto t0 = Clock::now();
    ASSERT_PK_OK(pk_cancel_trigger(token.get()));
    bg.Join();
    EXPECT_LT(MsSince(t0), 5000) << "the trigger was not noticed until the pipeline ended by itself";
    ASSERT_RAN(bg.ran);
    EXPECT_EQ(PK_OUTCOME_CANCELLED, bg.ran.info.outcome);
    EXPECT_EQ(PK_ERR_CANCELLED, bg.ran.check) << bg.ran.check_msg;
    EXPECT_TRUE(pktest::WaitDead(sleeper, 2000));

    // The first stage still running, but watching a token of its own.
    Cancel own = NewCancel();
    Cancel token2 = NewCancel();
    Cmd first = Sh("sleep 8 & echo $! > " + tmp_.File("G") + "; wait");
    Cmd last = NewCmd({"cat"});
    ASSERT_TRUE(own && token2 && first && last);
    ASSERT_PK_OK(pk_command_cancel_on(first.get(), own.get()));
    Pipeline pl2 = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(pl2.get(), first.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl2.get(), last.get(), 0));
    ASSERT_PK_OK(pk_pipeline_cancel_on(pl2.get(), token2.get()));
    BackgroundPipeline bg2;
    bg2.Start(pl2.get());
    pktest::ProcId sleeper2 = Learn(tmp_.File("G"));
    t0 = Clock::now();
    ASSERT_PK_OK(pk_cancel_trigger(token2.get()));
    bg2.Join();
    EXPECT_LT(MsSince(t0), 5000) << "the pipeline's token went unwatched";
    ASSERT_RAN(bg2.ran);
    EXPECT_EQ(PK_OUTCOME_CANCELLED, bg2.ran.info.outcome);
    EXPECT_TRUE(pktest::WaitDead(sleeper2, 2000));
}

TEST_F(Layers, PipelineEndsTakeTheCommandsOwnSettings) {
    // The first stage's stdin is its command's; the last stage's stdout and
    // stderr are captured (or not) per its command.
    Cmd a = NewCmd({"cat"});
    ASSERT_TRUE(a);
    const std::string text = "hello pipeline\nsecond line\n";
    ASSERT_PK_OK(pk_command_stdin_bytes(a.get(), text.data(), text.size()));
    Cmd b = Sh("tr a-z A-Z; echo last-err >&2");
    ASSERT_TRUE(b);
    Pipeline pl = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), b.get(), 0));
    Ran ran = RunPipeline(pl.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("HELLO PIPELINE\nSECOND LINE\n", ran.out);
    EXPECT_EQ("last-err\n", ran.err);
    EXPECT_EQ(1, ran.info.success);

    // A middle stage's stderr is not the pipeline's; a middle stage's stdin
    // bytes are ignored in favour of the pipe.
    Cmd mid = Sh("cat; echo mid-err >&2");
    ASSERT_TRUE(mid);
    ASSERT_PK_OK(pk_command_stdin_bytes(mid.get(), "IGNORED\n", 8));
    Pipeline three = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(three.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(three.get(), mid.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(three.get(), b.get(), 0));
    ran = RunPipeline(three.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("HELLO PIPELINE\nSECOND LINE\n", ran.out);
    EXPECT_EQ("last-err\n", ran.err);

    // The last stage's stdout to a caller fd, its stderr merged into it.
    Pipe p;
    ASSERT_TRUE(p.Open());
    ASSERT_PK_OK(pk_command_output(b.get(), PK_STREAM_STDOUT, PK_OUTPUT_FD, p.w));
    ASSERT_PK_OK(pk_command_output(b.get(), PK_STREAM_STDERR, PK_OUTPUT_MERGE, -1));
    ran = RunPipeline(pl.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("", ran.out);
    EXPECT_EQ("", ran.err);
    p.CloseWrite();
    EXPECT_EQ("HELLO PIPELINE\nSECOND LINE\nlast-err\n", ReadToEof(p.r));

    // A single-stage pipeline is just the command.
    Pipeline one = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(one.get(), a.get(), 0));
    ran = RunPipeline(one.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(text, ran.out);
    EXPECT_EQ(1u, ran.info.stage_count);
}

TEST_F(Layers, PipelineStageInfoAndSingleRunInfo) {
    Cmd a = Sh("exit 3");
    Cmd b = Sh("cat >/dev/null; exit 5");
    Cmd c = Sh("cat >/dev/null; kill -TERM $$");
    ASSERT_TRUE(a && b && c);
    Pipeline pl = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), a.get(), PK_STAGE_UNCHECKED));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), b.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), c.get(), 0));
    Ran ran = RunPipeline(pl.get());
    ASSERT_RAN(ran);
    ASSERT_EQ(3u, ran.stages.size());
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.stages[0].outcome);
    EXPECT_EQ(3, ran.stages[0].exit_code);
    EXPECT_EQ(PK_OUTCOME_EXITED, ran.stages[1].outcome);
    EXPECT_EQ(5, ran.stages[1].exit_code);
    EXPECT_EQ(PK_OUTCOME_SIGNALLED, ran.stages[2].outcome);
    EXPECT_EQ(SIGTERM, ran.stages[2].signal);
    EXPECT_EQ(-1, ran.stages[2].exit_code);
    EXPECT_EQ(1, ran.info.failed_stage) << "stage 0 is unchecked";
    EXPECT_EQ(5, ran.info.exit_code);

    // A single run has one "stage": itself.
    Cmd single = Sh("exit 6");
    ASSERT_TRUE(single);
    Ran one = RunCmd(single.get());
    ASSERT_RAN(one);
    EXPECT_EQ(1u, one.info.stage_count);
    EXPECT_EQ(-1, one.info.failed_stage);
    ASSERT_EQ(1u, one.stages.size());
    EXPECT_EQ(6, one.stages[0].exit_code);
}

TEST_F(Layers, PipelineBadInput) {
    Pipeline pl = NewPipeline();
    ASSERT_TRUE(pl);
    pk_result* r = nullptr;
    // Empty.
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_pipeline_run(pl.get(), &r));
    EXPECT_EQ(nullptr, r);
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_pipeline_run(pl.get(), nullptr));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_pipeline_new(nullptr));
    Cmd c = NewCmd({"true"});
    ASSERT_TRUE(c);
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_pipeline_add(pl.get(), c.get(), 1u << 7));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_pipeline_flags(pl.get(), 1u << 5));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_pipeline_timeout(pl.get(), 100, -1, 0));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_pipeline_timeout(pl.get(), 100, 4096, 0));

    // Handles: NULL, wrong type, freed.
    Cancel token = NewCancel();
    ASSERT_TRUE(token);
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_add(nullptr, c.get(), 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_add(pl.get(), nullptr, 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_add(pl.get(), reinterpret_cast<pk_command*>(token.get()), 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_add(reinterpret_cast<pk_pipeline*>(c.get()), c.get(), 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_flags(nullptr, 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_timeout(nullptr, 1, 0, 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_cancel_on(nullptr, token.get()));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_cancel_on(pl.get(), reinterpret_cast<pk_cancel*>(c.get())));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_run(nullptr, &r));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_run(reinterpret_cast<pk_pipeline*>(c.get()), &r));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_free(nullptr));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_free(reinterpret_cast<pk_pipeline*>(token.get())));
    pk_run_info info = PK_RUN_INFO_INIT;
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_result_stage_info(nullptr, 0, &info));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_result_stage_info(reinterpret_cast<pk_result*>(pl.get()), 0, &info));

    // The cancel token can be detached again.
    EXPECT_PK_OK(pk_pipeline_cancel_on(pl.get(), token.get()));
    EXPECT_PK_OK(pk_pipeline_cancel_on(pl.get(), nullptr));

    // A freed pipeline.
    pk_pipeline* gone = nullptr;
    ASSERT_PK_OK(pk_pipeline_new(&gone));
    ASSERT_PK_OK(pk_pipeline_add(gone, c.get(), 0));
    ASSERT_PK_OK(pk_pipeline_free(gone));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_run(gone, &r));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_add(gone, c.get(), 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_pipeline_free(gone));

    // The pipeline holds its stages: freeing a command after adding it is fine.
    {
        Cmd echo = NewCmd({"echo", "kept"});
        ASSERT_TRUE(echo);
        ASSERT_PK_OK(pk_pipeline_add(pl.get(), echo.get(), 0));
    }
    Ran ran = RunPipeline(pl.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("kept\n", ran.out);
    // A stage that cannot start: the run fails, nothing is left behind.
    Cmd missing = NewCmd({"/nonexistent/processkit-no-such-program"});
    ASSERT_TRUE(missing);
    Cmd sleeper = NewCmd({"sleep", "30"});
    ASSERT_TRUE(sleeper);
    Pipeline broken = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(broken.get(), sleeper.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(broken.get(), missing.get(), 0));
    auto t0 = Clock::now();
    ran = RunPipeline(broken.get());
    EXPECT_EQ(PK_ERR_NOT_FOUND, ran.rc) << ran.error;
    EXPECT_LT(MsSince(t0), kLongMs);
}

TEST_F(Layers, FiftyPipelinesLeakNothing) {
    Cmd a = NewCmd({"printf", "one\\ntwo\\n"});
    Cmd b = NewCmd({"sort", "-r"});
    Cmd c = NewCmd({"cat"});
    ASSERT_TRUE(a && b && c);
    Pipeline pl = NewPipeline();
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), a.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), b.get(), 0));
    ASSERT_PK_OK(pk_pipeline_add(pl.get(), c.get(), 0));
    ASSERT_PK_OK(pk_pipeline_timeout(pl.get(), 60000, 0, 1000));
    // One run first, so lazily opened library fds are not counted as a leak.
    Ran ran = RunPipeline(pl.get());
    ASSERT_RAN(ran);
    const int fds = pktest::OpenFdCount();
    for (int i = 0; i < 50; i++) {
        ran = RunPipeline(pl.get());
        ASSERT_RAN(ran);
        ASSERT_EQ("two\none\n", ran.out) << "run " << i;
        ASSERT_EQ(1, ran.info.success) << "run " << i;
    }
    EXPECT_EQ(fds, pktest::OpenFdCount());
    EXPECT_TRUE(pktest::OurCgroupLeaves().empty());
    EXPECT_TRUE(pktest::NoChildren());
}

// ===========================================================================
// 2. Readiness probes

TEST_F(Layers, WaitForLineSubstringThenRegex) {
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

TEST_F(Layers, WaitForLineRegexOnStderr) {
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

TEST_F(Layers, WaitForLinePrintedBeforeTheProbeCounts) {
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

TEST_F(Layers, WaitForLineNeverReadyLeavesTheRunAlone) {
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

TEST_F(Layers, WaitForLineRunEndsFirst) {
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

TEST_F(Layers, WaitForLineBadInput) {
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

TEST_F(Layers, WaitForPort) {
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

TEST_F(Layers, WaitForPortNobodyOpens) {
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

TEST_F(Layers, WaitForPredicate) {
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
// 3. Process attributes

TEST_F(Layers, RunAsNobody) {
    if (geteuid() != 0)
        GTEST_SKIP() << "needs root";
    Cmd cmd = Sh("id -u; id -g; id -G");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_cwd(cmd.get(), "/"));  // our own cwd may be closed to nobody
    ASSERT_PK_OK(pk_command_user(cmd.get(), 65534, 65534, nullptr, 0));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("65534\n65534\n65534\n", ran.out) << ran.err;
    EXPECT_EQ(1, ran.info.success) << ran.err;
    // The run's private group is a cgroup-v2 leaf created by root; the child
    // was born in it before dropping, and is torn down all the same.
    if (HostHasCgroupV2())
        EXPECT_EQ(PK_MECHANISM_CGROUP_V2, ran.info.mechanism);

    // Supplementary groups, in the order given.
    const uint32_t groups[] = {1234, 5678};
    ASSERT_PK_OK(pk_command_user(cmd.get(), 65534, 65534, groups, 2));
    ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("65534\n65534\n65534 1234 5678\n", ran.out) << ran.err;

    // A dropped child cannot get back: setuid(0) fails.
    const char* python = "/usr/bin/python3";
    if (access(python, X_OK) == 0) {
        Cmd back = NewCmd({python, "-c",
                           "import os\ntry:\n    os.setuid(0)\n    print('root again')\nexcept PermissionError:\n"
                           "    print('denied')\n"});
        ASSERT_TRUE(back);
        ASSERT_PK_OK(pk_command_cwd(back.get(), "/"));
        ASSERT_PK_OK(pk_command_user(back.get(), 65534, 65534, nullptr, 0));
        ran = RunCmd(back.get());
        ASSERT_RAN(ran);
        EXPECT_EQ("denied\n", ran.out) << ran.err;
    }

    // In a shared cgroup group too: members include the dropped child, and
    // killing the group ends it.
    Group g = NewGroup();
    ASSERT_TRUE(g);
    Cmd sleeper = Sh("echo up; sleep 30");
    ASSERT_TRUE(sleeper);
    ASSERT_PK_OK(pk_command_cwd(sleeper.get(), "/"));
    ASSERT_PK_OK(pk_command_user(sleeper.get(), 65534, 65534, nullptr, 0));
    Loop loop = NewLoop();
    Proc p = Start(loop.get(), sleeper.get(), g.get());
    ASSERT_TRUE(p);
    ASSERT_PK_OK(pk_process_wait_for_line(p.get(), 0, "up", 0, kLongMs));
    int32_t pid = 0;
    ASSERT_PK_OK(pk_process_pid(p.get(), &pid));
    std::string status = ReadText("/proc/" + std::to_string(pid) + "/status");
    EXPECT_TRUE(Contains(status, "Uid:\t65534\t65534\t65534\t65534")) << status;
    int32_t members[64];
    size_t count = 0;
    ASSERT_PK_OK(pk_group_members(g.get(), members, 64, &count));
    EXPECT_NE(members + std::min<size_t>(count, 64), std::find(members, members + std::min<size_t>(count, 64), pid));
    ASSERT_PK_OK(pk_group_kill(g.get()));
    pk_process* raw = p.get();
    ASSERT_PK_OK(pk_loop_wait_all(loop.get(), &raw, 1, kLongMs));
    Ran killed = ResultOf(p.get());
    ASSERT_RAN(killed);
    EXPECT_EQ(PK_OUTCOME_SIGNALLED, killed.info.outcome);
    EXPECT_EQ(SIGKILL, killed.info.signal);
}

TEST_F(Layers, Umask) {
    Cmd cmd = Sh("umask; touch f; stat -c %a f; rm f");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_cwd(cmd.get(), tmp_.path().c_str()));
    ASSERT_PK_OK(pk_command_umask(cmd.get(), 027));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("0027\n640\n", ran.out) << ran.err;
    ASSERT_PK_OK(pk_command_umask(cmd.get(), 0));
    ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("0000\n666\n", ran.out) << ran.err;
}

TEST_F(Layers, Rlimits) {
    Cmd cmd = Sh("ulimit -n; ulimit -Hn; ulimit -c");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_rlimit(cmd.get(), RLIMIT_NOFILE, 64, 128));
    ASSERT_PK_OK(pk_command_rlimit(cmd.get(), RLIMIT_CORE, 0, 0));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("64\n128\n0\n", ran.out) << ran.err;
    // Setting the same resource again replaces it.
    ASSERT_PK_OK(pk_command_rlimit(cmd.get(), RLIMIT_NOFILE, 100, 100));
    ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("100\n100\n0\n", ran.out) << ran.err;
    // Our own limits are untouched.
    struct rlimit ours;
    ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &ours));
    EXPECT_GT(ours.rlim_cur, 100u);
}

TEST_F(Layers, CwdFd) {
    int dir = open(tmp_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(dir, 0);
    char real[PATH_MAX];
    ASSERT_NE(nullptr, realpath(tmp_.path().c_str(), real));
    Cmd cmd = NewCmd({"pwd", "-P"});
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_cwd_fd(cmd.get(), dir));
    Ran ran = RunCmd(cmd.get());
    EXPECT_EQ(PK_OK, ran.rc) << ran.error;
    EXPECT_EQ(std::string(real) + "\n", ran.out) << ran.err;
    // It wins over a path cwd.
    ASSERT_PK_OK(pk_command_cwd(cmd.get(), "/"));
    ran = RunCmd(cmd.get());
    EXPECT_EQ(std::string(real) + "\n", ran.out) << ran.err;
    // -1 clears it: the path applies again.
    ASSERT_PK_OK(pk_command_cwd_fd(cmd.get(), -1));
    ran = RunCmd(cmd.get());
    EXPECT_EQ("/\n", ran.out) << ran.err;
    close(dir);
}

TEST_F(Layers, MapFd) {
    Pipe p;
    ASSERT_TRUE(p.Open());
    Cmd cmd = Sh("echo hi >&5");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_map_fd(cmd.get(), 5, p.w));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(1, ran.info.success) << ran.err;
    // Only the child had the other copy; ours closed, EOF follows the line.
    p.CloseWrite();
    EXPECT_EQ("hi\n", ReadToEof(p.r));

    // Nothing else is inherited: 0-2, 5, and ls's own directory fd (3).
    Pipe q;
    ASSERT_TRUE(q.Open());
    int stray = open("/dev/null", O_RDONLY);  // not O_CLOEXEC: must still not leak
    ASSERT_GE(stray, 0);
    Cmd ls = NewCmd({"ls", "/proc/self/fd"});
    ASSERT_TRUE(ls);
    ASSERT_PK_OK(pk_command_map_fd(ls.get(), 5, q.w));
    ran = RunCmd(ls.get());
    close(stray);
    ASSERT_RAN(ran);
    EXPECT_EQ("0\n1\n2\n3\n5\n", ran.out) << ran.err;

    // Several maps, one high, and one whose source number is another map's
    // target (parent fd 200 becomes child fd 7 while child fd 200 comes from
    // elsewhere): no dup may clobber a source still needed.
    Pipe r, s;
    ASSERT_TRUE(r.Open());
    ASSERT_TRUE(s.Open());
    ASSERT_EQ(-1, fcntl(200, F_GETFD)) << "fd 200 is in use in the test process";
    ASSERT_EQ(200, dup3(r.w, 200, O_CLOEXEC));
    r.CloseWrite();
    Cmd two = NewCmd({"bash", "-c", "echo a >&7; echo b >&200; ls /proc/self/fd | sort -n | tr '\\n' ' '"});
    ASSERT_TRUE(two);
    ASSERT_PK_OK(pk_command_map_fd(two.get(), 200, s.w));
    ASSERT_PK_OK(pk_command_map_fd(two.get(), 7, 200));
    ran = RunCmd(two.get());
    close(200);
    ASSERT_RAN(ran);
    EXPECT_EQ(1, ran.info.success) << ran.err;
    EXPECT_TRUE(Contains(ran.out, " 7 200 ")) << ran.out;
    s.CloseWrite();
    EXPECT_EQ("a\n", ReadToEof(r.r));
    EXPECT_EQ("b\n", ReadToEof(s.r));
}

TEST_F(Layers, AttributeBadInput) {
    Cmd cmd = NewCmd({"true"});
    ASSERT_TRUE(cmd);
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_user(cmd.get(), static_cast<uint32_t>(-1), 0, nullptr, 0));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_user(cmd.get(), 0, static_cast<uint32_t>(-1), nullptr, 0));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_user(cmd.get(), 0, 0, nullptr, 2));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_umask(cmd.get(), 01000));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_rlimit(cmd.get(), 99, 1, 1));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_rlimit(cmd.get(), -1, 1, 1));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_rlimit(cmd.get(), RLIMIT_NOFILE, 65, 64));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_map_fd(cmd.get(), 2, 1));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_map_fd(cmd.get(), 0, 1));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_map_fd(cmd.get(), 5, -1));
    Pipe closed;
    ASSERT_TRUE(closed.Open());
    int gone = closed.w;
    closed.CloseWrite();
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_map_fd(cmd.get(), 5, gone));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_cwd_fd(cmd.get(), gone));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_cwd_fd(cmd.get(), -2));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_pty(cmd.get(), 0, 80));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_command_pty(cmd.get(), 24, 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_user(nullptr, 0, 0, nullptr, 0));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_umask(nullptr, 022));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_rlimit(nullptr, RLIMIT_NOFILE, 1, 1));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_cwd_fd(nullptr, -1));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_map_fd(nullptr, 5, 1));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_command_pty(nullptr, 24, 80));
    // None of the refused calls changed the command.
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(1, ran.info.success);

    // An fd closed after it was mapped: the run fails to start, cleanly. (A
    // high number, so no fd the library opens for the run takes it over.)
    Pipe late;
    ASSERT_TRUE(late.Open());
    ASSERT_EQ(-1, fcntl(900, F_GETFD));
    ASSERT_EQ(900, dup3(late.w, 900, O_CLOEXEC));
    ASSERT_PK_OK(pk_command_map_fd(cmd.get(), 5, 900));
    close(900);
    ran = RunCmd(cmd.get());
    EXPECT_EQ(PK_ERR_INVALID, ran.rc) << ran.error;
}

// ===========================================================================
// 4. PTY runs

TEST_F(Layers, PtyIsATerminal) {
    Cmd cmd = Sh("test -t 0 && test -t 1 && test -t 2 && echo tty");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_pty(cmd.get(), 24, 80));
    Ran ran = RunCmd(cmd.get());
    ASSERT_RAN(ran);
    EXPECT_TRUE(Contains(ran.out, "tty")) << ran.out;
    EXPECT_EQ(1, ran.info.success);
    EXPECT_EQ("", ran.err) << "everything arrives as stdout";

    Cmd size = NewCmd({"stty", "size"});
    ASSERT_TRUE(size);
    ASSERT_PK_OK(pk_command_pty(size.get(), 24, 80));
    ran = RunCmd(size.get());
    ASSERT_RAN(ran);
    EXPECT_TRUE(Contains(ran.out, "24 80")) << ran.out;

    // Without a PTY, not a terminal.
    Cmd plain = Sh("test -t 1 && echo tty || echo notty");
    ASSERT_TRUE(plain);
    ran = RunCmd(plain.get());
    ASSERT_RAN(ran);
    EXPECT_EQ("notty\n", ran.out);
}

TEST_F(Layers, PtyResizeReachesTheChild) {
    Cmd cmd = Sh("trap 'stty size' WINCH; echo ready; while :; do sleep 0.05; done");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_pty(cmd.get(), 24, 80));
    Loop loop = NewLoop();
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    ASSERT_PK_OK(pk_process_wait_for_line(p.get(), PK_STREAM_STDOUT, "ready", 0, kLongMs));
    ASSERT_PK_OK(pk_process_resize(p.get(), 40, 120));
    EXPECT_PK_OK(pk_process_wait_for_line(p.get(), PK_STREAM_STDOUT, "40 120", 0, kLongMs));
    ASSERT_PK_OK(pk_process_resize(p.get(), 10, 33));
    EXPECT_PK_OK(pk_process_wait_for_line(p.get(), PK_STREAM_STDOUT, "10 33", 0, kLongMs));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_process_resize(p.get(), 0, 10));
    CancelAndWait(loop.get(), p.get());
    EXPECT_PK_ERR(PK_ERR_STATE, pk_process_resize(p.get(), 40, 120));
}

TEST_F(Layers, PtyWrite) {
    Cmd cmd = Sh("read x; echo got $x");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_pty(cmd.get(), 24, 80));
    Loop loop = NewLoop();
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    ASSERT_PK_OK(pk_process_write(p.get(), "hello\n", 6));
    pk_process* raw = p.get();
    ASSERT_PK_OK(pk_loop_wait_all(loop.get(), &raw, 1, kLongMs));
    Ran ran = ResultOf(p.get());
    ASSERT_RAN(ran);
    EXPECT_TRUE(Contains(ran.out, "got hello")) << ran.out;
    EXPECT_EQ(1, ran.info.success);
}

TEST_F(Layers, ResizeWithoutPtyIsAStateError) {
    Cmd cmd = NewCmd({"sleep", "30"});
    ASSERT_TRUE(cmd);
    Loop loop = NewLoop();
    Proc p = Start(loop.get(), cmd.get());
    ASSERT_TRUE(p);
    EXPECT_PK_ERR(PK_ERR_STATE, pk_process_resize(p.get(), 40, 120));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_process_resize(nullptr, 40, 120));
    EXPECT_FALSE(Done(p.get()));
    CancelAndWait(loop.get(), p.get());
}

TEST_F(Layers, PtyChildLeadsANewSessionAndStaysContained) {
    Group g = NewGroup();
    ASSERT_TRUE(g);
    Cmd cmd = Sh("sleep 30 & echo $! > '" + tmp_.File("bg") + "'; echo ready; wait");
    ASSERT_TRUE(cmd);
    ASSERT_PK_OK(pk_command_pty(cmd.get(), 24, 80));
    Loop loop = NewLoop();
    Proc p = Start(loop.get(), cmd.get(), g.get());
    ASSERT_TRUE(p);
    ASSERT_PK_OK(pk_process_wait_for_line(p.get(), PK_STREAM_STDOUT, "ready", 0, kLongMs));
    int32_t pid = 0;
    ASSERT_PK_OK(pk_process_pid(p.get(), &pid));
    long pgrp = 0, sid = 0, tty = 0;
    ASSERT_TRUE(SessionOf(pid, &pgrp, &sid, &tty));
    EXPECT_EQ(pid, sid) << "the child leads its own session";
    EXPECT_EQ(pid, pgrp);
    EXPECT_NE(0, tty) << "with a controlling terminal";
    EXPECT_NE(getsid(0), sid);
    pktest::ProcId bg = Learn(tmp_.File("bg"));

    int32_t members[64];
    size_t count = 0;
    ASSERT_PK_OK(pk_group_members(g.get(), members, 64, &count));
    const size_t n = std::min<size_t>(count, 64);
    EXPECT_NE(members + n, std::find(members, members + n, pid)) << "the session leader is a member";
    pk_containment c = PK_CONTAINMENT_INIT;
    ASSERT_PK_OK(pk_group_containment(g.get(), &c));
    if (c.mechanism == PK_MECHANISM_CGROUP_V2)
        EXPECT_NE(members + n, std::find(members, members + n, bg.pid)) << "and so is its background child";

    ASSERT_PK_OK(pk_group_kill(g.get()));
    pk_process* raw = p.get();
    ASSERT_PK_OK(pk_loop_wait_all(loop.get(), &raw, 1, kLongMs));
    Ran ran = ResultOf(p.get());
    ASSERT_RAN(ran);
    EXPECT_EQ(PK_OUTCOME_SIGNALLED, ran.info.outcome);
    EXPECT_EQ(SIGKILL, ran.info.signal);
    if (c.mechanism == PK_MECHANISM_CGROUP_V2)
        EXPECT_TRUE(pktest::WaitDead(bg, kLongMs)) << "the group kill reached the whole session";

    // In a private group (pk_command_run), the run's end takes the tree along.
    Cmd leave = Sh("sleep 30 & echo $! > '" + tmp_.File("bg2") + "'; echo done");
    ASSERT_TRUE(leave);
    ASSERT_PK_OK(pk_command_pty(leave.get(), 24, 80));
    auto t0 = Clock::now();
    ran = RunCmd(leave.get());
    ASSERT_RAN(ran);
    EXPECT_LT(MsSince(t0), kLongMs);
    EXPECT_TRUE(Contains(ran.out, "done")) << ran.out;
    pid_t left = pktest::ReadPidFile(tmp_.File("bg2"), kLongMs);
    ASSERT_GT(left, 0);
    EXPECT_TRUE(pktest::WaitDead(pktest::Identify(left), 2000)) << "the background sleep outlived its PTY run";
}

}  // namespace
