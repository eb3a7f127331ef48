// The fixture and helpers shared by the higher layers' suites (pipelines,
// readiness, process attributes, PTY runs): real processes, and a fixture
// that checks this process has no child (live or zombie; the library's
// pk-keeper aside), no cgroup leaf and no extra fd after each test, and kills
// every grandchild a test learned of (by pid plus start time, so a recycled
// pid is never touched). Temporary files live in a TempDir removed with the
// fixture.
#ifndef PK_TESTS_LAYERS_FIXTURE_H
#define PK_TESTS_LAYERS_FIXTURE_H

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
#include "file_util.h"
#include "pk_test.h"
#include "proc_util.h"

namespace layers {

using pktest::Cmd;
using pktest::Loop;
using pktest::Proc;
using pktest::Result;
using pktest::Cancel;
using pktest::Pipeline;
using pktest::Group;

using pktest::Clock;
using pktest::NewCancel;
using pktest::NewGroup;
using pktest::NewPipeline;
using pktest::NewCmd;
using pktest::NewLoop;
using pktest::Sh;
using pktest::MsSince;
using pktest::PathExists;
using pktest::Pipe;
using pktest::ReadText;
using pktest::ReadToEof;

// Generous bound for anything that should happen "soon". Not a timing goal.
constexpr int kLongMs = 10000;

inline bool Contains(const std::string& hay, const std::string& needle) {
    return hay.find(needle) != std::string::npos;
}

// The session id and process group of a live process (from /proc/PID/stat).
inline bool SessionOf(pid_t pid, long* pgrp, long* sid, long* tty) {
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
inline uint16_t FreePort() {
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

inline Ran Describe(pk_result* r) {
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

inline Ran RunCmd(pk_command* cmd) {
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

inline Ran RunPipeline(pk_pipeline* pl) {
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

inline Ran ResultOf(pk_process* p) {
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

inline Proc Start(pk_loop* loop, pk_command* cmd, pk_group* group = nullptr) {
    pk_process* p = nullptr;
    EXPECT_EQ(PK_OK, pk_loop_start(loop, cmd, group, &p)) << pk_last_error();
    return Proc(p);
}

inline bool Done(pk_process* p) {
    int32_t done = -1;
    EXPECT_EQ(PK_OK, pk_process_done(p, &done)) << pk_last_error();
    return done != 0;
}

// Cancels a run and drives its loop until it is finished.
inline void CancelAndWait(pk_loop* loop, pk_process* p) {
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
inline void CollectLine(void* user, int32_t stream, const char* line, size_t len) {
    Lines* l = static_cast<Lines*>(user);
    std::lock_guard<std::mutex> lock(l->mu);
    l->got.emplace_back(stream, std::string(line, len));
}

#define ASSERT_RAN(ran)                                                   \
    do {                                                                  \
        ASSERT_EQ(PK_OK, (ran).rc) << "the run failed: " << (ran).error; \
    } while (0)

inline bool HostHasCgroupV2() {
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

}  // namespace layers

#endif
