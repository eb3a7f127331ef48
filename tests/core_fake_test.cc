// Unit tests of the group core on the fake backend (which records every call
// the core makes), of small cgroup v2 helpers, and of the process-group
// backend's probe semantics on hand-made entries.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
// The internal api/src/spawn.h (on the include path of
// //:processkit_internal_headers) shadows <spawn.h>: name the system one.
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "backend.h"
#include "cgroup_v2.h"
#include "fake_backend.h"
#include "process_group.h"

// From api/src/group.h, which C++ cannot include (it pulls in <stdatomic.h>
// through handle.h and child.h).
int pk__group_create_with_ops(const pk_backend_ops* ops, const pk_group_options* opts, pk_group** out);
}
#include "processkit.h"
#include "support/proc_util.h"

extern char** environ;

namespace {

// Direct children of this process, live or zombie (by /proc scan).
std::vector<pid_t> ChildrenByProc() {
    return pktest::Children();
}

bool NoChildren() {
    return pktest::NoChildren();
}

int PidfdOpen(pid_t pid) {
    return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

// `sleep 30` by plain posix_spawn: in our process group, not leading its own.
pid_t SpawnSleep() {
    const char* argv[] = {"sleep", "30", nullptr};
    pid_t pid = -1;
    if (posix_spawnp(&pid, "sleep", nullptr, nullptr, const_cast<char* const*>(argv), environ) != 0)
        return -1;
    return pid;
}

void KillAndReap(pid_t pid) {
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);  // our unreaped child: the pid cannot have been reused
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
}

class CoreFake : public ::testing::Test {
  protected:
    void SetUp() override {
        pk__fake_preset(0, 0);
        ASSERT_TRUE(NoChildren()) << "a child exists before the test";
        fds_before_ = pktest::OpenFdCount();
    }
    void TearDown() override {
        pk__fake_preset(0, 0);  // never leak a preset into the next test
        EXPECT_TRUE(NoChildren()) << "the test left a child process behind";
        EXPECT_EQ(fds_before_, pktest::OpenFdCount()) << "the test leaked fds";
        EXPECT_TRUE(pktest::OurCgroupLeaves().empty());
    }

    // A fake group, with hold_busy / fail_create preset only for its creation.
    pk_group* CreateFake(int hold_busy = 0) {
        pk__fake_preset(hold_busy, 0);
        pk_group* g = nullptr;
        int rc = pk__group_create_with_ops(&pk__backend_fake, nullptr, &g);
        pk__fake_preset(0, 0);
        EXPECT_EQ(PK_OK, rc) << pk_last_error();
        return g;
    }

    int fds_before_ = -1;
};

// The fake's counters are plain ints the core writes under the group lock; a
// helper thread reads them with atomic builtins.
int Load(const int* p) {
    return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}
void Store(int* p, int v) {
    __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}

// An empty tree needs no kill at free: only create and destroy reach the
// backend (a group with a live child is killed: SpawnTracksAndFreeKillsTheChild).
TEST_F(CoreFake, CreateThenFreeOfAnEmptyGroupOnlyDestroys) {
    pk_group* g = CreateFake();
    ASSERT_NE(nullptr, g);
    pk_fake_state* f = pk__fake_last();
    ASSERT_NE(nullptr, f);
    EXPECT_EQ(1, f->creates);
    EXPECT_STREQ("C", f->log);
    pk_containment c = PK_CONTAINMENT_INIT;
    ASSERT_EQ(PK_OK, pk_group_containment(g, &c)) << pk_last_error();
    EXPECT_EQ(PK_MECHANISM_PROCESS_GROUP, c.mechanism);
    EXPECT_EQ(static_cast<uint32_t>(PK_FEATURE_SIGNALS | PK_FEATURE_ALL_MEMBERS), c.features);

    ASSERT_EQ(PK_OK, pk_group_free(g)) << pk_last_error();
    EXPECT_STREQ("CD", f->log);
    EXPECT_EQ(0, f->kills);
    EXPECT_EQ(1, f->destroys);
    EXPECT_EQ(0, f->destroy_spare);
    EXPECT_EQ(0, f->signals);
    EXPECT_EQ(PK_ERR_HANDLE, pk_group_free(g));
    EXPECT_EQ(1, f->destroys) << "a second free reached the backend";
}

TEST_F(CoreFake, SpawnTracksAndFreeKillsTheChild) {
    pk_group* g = CreateFake();
    ASSERT_NE(nullptr, g);
    pk_fake_state* f = pk__fake_last();
    const char* argv[] = {"sleep", "30", nullptr};
    pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
    so.argv = argv;
    pk_child* ch = nullptr;
    ASSERT_EQ(PK_OK, pk_group_spawn(g, &so, &ch)) << pk_last_error();
    EXPECT_STREQ("CPT", f->log);
    EXPECT_EQ(1, f->spawns);
    EXPECT_EQ(1, f->tracks);
    ASSERT_EQ(PK_OK, pk_group_free(g)) << pk_last_error();
    EXPECT_STREQ("CPTKD", f->log);
    EXPECT_EQ(0, f->destroy_spare);
    pk_exit_status es = PK_EXIT_STATUS_INIT;
    ASSERT_EQ(PK_OK, pk_child_wait(ch, 0, &es)) << pk_last_error();
    EXPECT_EQ(PK_EXIT_SIGNAL, es.kind);
    EXPECT_EQ(SIGKILL, es.signal);
    EXPECT_EQ(PK_OK, pk_child_free(ch));
}

TEST_F(CoreFake, SignalKillAndSuspendRouting) {
    pk_group* g = CreateFake();
    ASSERT_NE(nullptr, g);
    pk_fake_state* f = pk__fake_last();
    EXPECT_EQ(PK_OK, pk_group_signal(g, SIGUSR1)) << pk_last_error();
    EXPECT_EQ(SIGUSR1, f->last_signal);
    EXPECT_EQ(PK_OK, pk_group_signal(g, SIGKILL)) << pk_last_error();  // the atomic kill path
    EXPECT_EQ(1, f->kills);
    EXPECT_EQ(1, f->signals);
    EXPECT_EQ(PK_OK, pk_group_kill(g));
    EXPECT_EQ(2, f->kills);
    EXPECT_STREQ("CSKK", f->log);

    // Suspended: spawn is refused; free resumes, and has nothing to kill in
    // an empty tree.
    ASSERT_EQ(PK_OK, pk_group_suspend(g));
    EXPECT_EQ(1, f->suspends);
    const char* argv[] = {"true", nullptr};
    pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
    so.argv = argv;
    pk_child* ch = nullptr;
    EXPECT_EQ(PK_ERR_STATE, pk_group_spawn(g, &so, &ch));
    EXPECT_STRNE("", pk_last_error());
    EXPECT_EQ(nullptr, ch);
    EXPECT_EQ(0, f->spawns);
    ASSERT_EQ(PK_OK, pk_group_free(g)) << pk_last_error();
    EXPECT_EQ(1, f->resumes);
    EXPECT_EQ(2, f->kills);
    EXPECT_STREQ("CSKKD", f->log);
}

// hold_busy keeps the fake from draining: an escalating shutdown signals,
// waits out the grace, then kills.
TEST_F(CoreFake, ShutdownEscalatesAfterGrace) {
    pk_group* g = CreateFake(/*hold_busy=*/1);
    ASSERT_NE(nullptr, g);
    pk_fake_state* f = pk__fake_last();
    ASSERT_EQ(1, f->hold_busy);

    // Once the escalation kill has happened, let the fake drain, so the
    // post-kill wait (up to 10 s) ends at once.
    std::atomic<bool> stop{false};
    std::thread releaser([&] {
        while (!stop.load() && Load(&f->kills) < 1)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        Store(&f->hold_busy, 0);
    });

    pk_shutdown_options so = PK_SHUTDOWN_OPTIONS_INIT;
    so.signal = SIGTERM;
    so.grace_ms = 200;
    so.escalate = 1;
    pk_shutdown_report rep = PK_SHUTDOWN_REPORT_INIT;
    auto t0 = std::chrono::steady_clock::now();
    int rc = pk_group_shutdown(g, &so, &rep);
    auto took = std::chrono::steady_clock::now() - t0;
    stop = true;
    releaser.join();
    ASSERT_EQ(PK_OK, rc) << pk_last_error();
    EXPECT_EQ(1, f->signals);
    EXPECT_EQ(SIGTERM, f->last_signal);
    EXPECT_EQ(1, f->kills);
    EXPECT_STREQ("CSK", f->log);
    EXPECT_EQ(0, rep.drained);
    EXPECT_EQ(1, rep.escalated);
    EXPECT_GE(rep.elapsed_us, 200000u);
    EXPECT_GE(took, std::chrono::milliseconds(200));
    EXPECT_LT(took, std::chrono::seconds(5));

    ASSERT_EQ(PK_OK, pk_group_free(g)) << pk_last_error();
    EXPECT_EQ(1, f->kills) << "the escalation already emptied the tree";
    EXPECT_EQ(0, f->destroy_spare);
    EXPECT_STREQ("CSKD", f->log);
}

// A non-escalating shutdown never kills, and makes the free spare survivors.
TEST_F(CoreFake, ShutdownWithoutEscalateSparesAtFree) {
    pk_group* g = CreateFake(/*hold_busy=*/1);
    ASSERT_NE(nullptr, g);
    pk_fake_state* f = pk__fake_last();
    pk_shutdown_options so = PK_SHUTDOWN_OPTIONS_INIT;
    so.grace_ms = 100;
    so.escalate = 0;
    pk_shutdown_report rep = PK_SHUTDOWN_REPORT_INIT;
    ASSERT_EQ(PK_OK, pk_group_shutdown(g, &so, &rep)) << pk_last_error();
    EXPECT_EQ(0, rep.drained);
    EXPECT_EQ(0, rep.escalated);
    EXPECT_EQ(1, f->signals);
    EXPECT_EQ(0, f->kills);

    auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(PK_OK, pk_group_free(g)) << pk_last_error();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2)) << "a sparing free waited to drain";
    EXPECT_EQ(0, f->kills);
    EXPECT_EQ(1, f->destroys);
    EXPECT_EQ(1, f->destroy_spare);
    EXPECT_STREQ("CSD", f->log);
}

// A spawn after a non-escalating shutdown re-arms kill-on-free.
TEST_F(CoreFake, SpawnAfterSparingShutdownRearms) {
    pk_group* g = CreateFake(/*hold_busy=*/1);
    ASSERT_NE(nullptr, g);
    pk_fake_state* f = pk__fake_last();
    pk_shutdown_options so = PK_SHUTDOWN_OPTIONS_INIT;
    so.grace_ms = 50;
    so.escalate = 0;
    ASSERT_EQ(PK_OK, pk_group_shutdown(g, &so, nullptr)) << pk_last_error();
    EXPECT_EQ(0, f->kills);
    f->hold_busy = 0;  // no call is running: the fake may drain from now on

    const char* argv[] = {"sleep", "30", nullptr};
    pk_spawn_options sp = PK_SPAWN_OPTIONS_INIT;
    sp.argv = argv;
    pk_child* ch = nullptr;
    ASSERT_EQ(PK_OK, pk_group_spawn(g, &sp, &ch)) << pk_last_error();
    ASSERT_EQ(PK_OK, pk_group_free(g)) << pk_last_error();
    EXPECT_EQ(1, f->kills);
    EXPECT_EQ(0, f->destroy_spare);
    EXPECT_STREQ("CSPTKD", f->log);
    pk_exit_status es = PK_EXIT_STATUS_INIT;
    ASSERT_EQ(PK_OK, pk_child_wait(ch, 5000, &es)) << pk_last_error();
    EXPECT_EQ(PK_EXIT_SIGNAL, es.kind);
    EXPECT_EQ(SIGKILL, es.signal);
    EXPECT_EQ(PK_OK, pk_child_free(ch));
}

// An adopt after a non-escalating shutdown re-arms kill-on-free too.
TEST_F(CoreFake, AdoptAfterSparingShutdownRearms) {
    pk_group* g = CreateFake(/*hold_busy=*/1);
    ASSERT_NE(nullptr, g);
    pk_fake_state* f = pk__fake_last();
    pk_shutdown_options so = PK_SHUTDOWN_OPTIONS_INIT;
    so.grace_ms = 50;
    so.escalate = 0;
    ASSERT_EQ(PK_OK, pk_group_shutdown(g, &so, nullptr)) << pk_last_error();
    f->hold_busy = 0;

    pid_t pid = SpawnSleep();
    ASSERT_GT(pid, 0);
    pktest::ProcId id = pktest::Identify(pid);
    EXPECT_EQ(PK_OK, pk_group_adopt(g, pid)) << pk_last_error();
    EXPECT_EQ(1, f->adopts);
    ASSERT_EQ(PK_OK, pk_group_free(g)) << pk_last_error();
    EXPECT_EQ(1, f->kills);
    EXPECT_EQ(0, f->destroy_spare);
    EXPECT_STREQ("CSAKD", f->log);
    int status = 0;
    ASSERT_EQ(pid, waitpid(pid, &status, 0));
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    EXPECT_FALSE(pktest::Alive(id));
}

// A shutdown refused for a bad report must not have acted first.
TEST_F(CoreFake, ShutdownRefusesBadReportBeforeSignalling) {
    pk_group* g = CreateFake();
    ASSERT_NE(nullptr, g);
    pk_fake_state* f = pk__fake_last();
    pk_shutdown_options so = PK_SHUTDOWN_OPTIONS_INIT;
    so.grace_ms = 10;
    pk_shutdown_report rep = PK_SHUTDOWN_REPORT_INIT;
    rep.size = 0;
    EXPECT_EQ(PK_ERR_INVALID, pk_group_shutdown(g, &so, &rep));
    EXPECT_EQ(0, f->signals);
    rep.size = 10;  // inside members_after
    EXPECT_EQ(PK_ERR_INVALID, pk_group_shutdown(g, &so, &rep));
    EXPECT_STRNE("", pk_last_error());
    EXPECT_EQ(0, f->signals) << "the refused shutdown signalled the tree: " << f->log;
    EXPECT_EQ(0, f->kills);
    ASSERT_EQ(PK_OK, pk_group_free(g)) << pk_last_error();
}

TEST_F(CoreFake, FailCreateReturnsItsCodeAndLeaksNothing) {
    // Make sure some earlier fake state exists, to see it is not replaced.
    pk_group* warm = CreateFake();
    ASSERT_NE(nullptr, warm);
    ASSERT_EQ(PK_OK, pk_group_free(warm));
    pk_fake_state* before = pk__fake_last();
    const int fds = pktest::OpenFdCount();
    for (int code : {PK_ERR_LIMIT, PK_ERR_NOMEM, PK_ERR_OS, PK_ERR_UNAVAILABLE}) {
        pk__fake_preset(0, code);
        pk_group* g = reinterpret_cast<pk_group*>(0x1234);
        int rc = pk__group_create_with_ops(&pk__backend_fake, nullptr, &g);
        pk__fake_preset(0, 0);
        EXPECT_EQ(code, rc);
        EXPECT_STRNE("", pk_last_error());
        EXPECT_EQ(reinterpret_cast<pk_group*>(0x1234), g) << "out written on failure";
        EXPECT_EQ(before, pk__fake_last()) << "a failed create left a state behind";
        EXPECT_EQ(fds, pktest::OpenFdCount());
    }
    // Nothing stuck: the next create works.
    pk_group* g = CreateFake();
    ASSERT_NE(nullptr, g);
    EXPECT_EQ(PK_OK, pk_group_free(g));
}

TEST_F(CoreFake, OpsVersionChecked) {
    pk_fake_state* before = pk__fake_last();
    for (int version : {0, -1, PK_BACKEND_OPS_VERSION + 1, 99}) {
        pk_backend_ops ops = pk__backend_fake;
        ops.version = version;
        pk_group* g = reinterpret_cast<pk_group*>(0x1234);
        EXPECT_EQ(PK_ERR_UNSUPPORTED, pk__group_create_with_ops(&ops, nullptr, &g)) << "version " << version;
        EXPECT_STRNE("", pk_last_error());
        EXPECT_EQ(reinterpret_cast<pk_group*>(0x1234), g);
        EXPECT_EQ(before, pk__fake_last()) << "create was called on a rejected table";
    }
    pk_backend_ops ops = pk__backend_fake;
    pk_group* g = nullptr;
    ASSERT_EQ(PK_OK, pk__group_create_with_ops(&ops, nullptr, &g)) << pk_last_error();
    EXPECT_EQ(PK_OK, pk_group_free(g));

    EXPECT_EQ(PK_ERR_INVALID, pk__group_create_with_ops(nullptr, nullptr, &g));
    EXPECT_EQ(PK_ERR_INVALID, pk__group_create_with_ops(&pk__backend_fake, nullptr, nullptr));

    // Entries newer than a table's version are never read, and optional
    // entries may be NULL.
    static int host_described;
    host_described = 0;
    ops = pk__backend_fake;
    ops.describe_host = [](pk_containment*) { host_described++; };
    for (int version : {1, 2}) {
        ops.version = version;
        ASSERT_EQ(PK_OK, pk__group_create_with_ops(&ops, nullptr, &g)) << pk_last_error();
        pk_containment c = PK_CONTAINMENT_INIT;
        EXPECT_EQ(PK_OK, pk_group_containment(g, &c)) << pk_last_error();
        EXPECT_EQ(version >= 2 ? 1 : 0, host_described) << "version " << version;
        EXPECT_EQ(PK_OK, pk_group_free(g));
    }
    ops = pk__backend_fake;
    ops.drain_fd = nullptr;
    ops.describe = nullptr;
    ASSERT_EQ(PK_OK, pk__group_create_with_ops(&ops, nullptr, &g)) << pk_last_error();
    pk_containment c = PK_CONTAINMENT_INIT;
    EXPECT_EQ(PK_OK, pk_group_containment(g, &c)) << pk_last_error();
    pk_shutdown_options so = PK_SHUTDOWN_OPTIONS_INIT;
    so.grace_ms = 50;
    EXPECT_EQ(PK_OK, pk_group_shutdown(g, &so, nullptr)) << pk_last_error();
    EXPECT_EQ(PK_OK, pk_group_free(g));
    pk_group_options o = PK_GROUP_OPTIONS_INIT;
    o.size = 0;
    EXPECT_EQ(PK_ERR_INVALID, pk__group_create_with_ops(&pk__backend_fake, &o, &g));
}

// ---------------------------------------------------------------------------
// cgroup v2 helpers.

TEST(CgroupHelpers, HasController) {
    EXPECT_TRUE(pk__cgroup_has_controller("cpu memory pids", "memory"));
    EXPECT_TRUE(pk__cgroup_has_controller("cpu memory pids", "cpu"));
    EXPECT_TRUE(pk__cgroup_has_controller("cpu memory pids", "pids"));
    EXPECT_FALSE(pk__cgroup_has_controller("cpuset", "cpu"));
    EXPECT_TRUE(pk__cgroup_has_controller("cpuset cpu", "cpu"));
    EXPECT_FALSE(pk__cgroup_has_controller("cpuset io", "cpu"));
    EXPECT_FALSE(pk__cgroup_has_controller("hugetlb rdma", "memory"));
    EXPECT_TRUE(pk__cgroup_has_controller("memory\n", "memory"));
    EXPECT_FALSE(pk__cgroup_has_controller("", "cpu"));
    EXPECT_FALSE(pk__cgroup_has_controller("xcpu", "cpu"));
}

TEST(CgroupHelpers, CpuMax) {
    char buf[64];
    pk__cgroup_cpu_max(0.5, buf, sizeof buf);
    EXPECT_STREQ("50000 100000", buf);
    pk__cgroup_cpu_max(0.000001, buf, sizeof buf);
    EXPECT_STREQ("1 100000", buf);
    pk__cgroup_cpu_max(2, buf, sizeof buf);
    EXPECT_STREQ("200000 100000", buf);
    pk__cgroup_cpu_max(1.5, buf, sizeof buf);
    EXPECT_STREQ("150000 100000", buf);
}

// ---------------------------------------------------------------------------
// Process-group backend: the group_seen latch.

TEST_F(CoreFake, ProcessGroupProbeFallbackAndLatch) {
    pk_limits limits = {0, 0, 0.0};
    void* state = nullptr;
    ASSERT_EQ(PK_OK, pk__backend_process_group.create(&limits, &state)) << pk_last_error();
    ASSERT_NE(nullptr, state);

    pid_t a = SpawnSleep();
    pid_t b = SpawnSleep();
    ASSERT_GT(a, 0);
    ASSERT_GT(b, 0);
    // Neither leads a process group: both are in ours.
    EXPECT_EQ(getpgrp(), getpgid(a));
    EXPECT_EQ(getpgrp(), getpgid(b));
    int fd_a = PidfdOpen(a);
    int fd_b = PidfdOpen(b);
    ASSERT_GE(fd_a, 0);
    ASSERT_GE(fd_b, 0);

    // Not yet seen: ESRCH on group -a falls back to the pid, which lives.
    ASSERT_EQ(PK_OK, pk__pgroup_track_entry(state, a, fd_a, /*group=*/1, /*group_seen=*/0)) << pk_last_error();
    EXPECT_EQ(1, pk__pgroup_entry_alive(state, a));
    // Latched: ESRCH on group -b means gone, although b itself lives.
    ASSERT_EQ(PK_OK, pk__pgroup_track_entry(state, b, fd_b, /*group=*/1, /*group_seen=*/1)) << pk_last_error();
    EXPECT_EQ(0, pk__pgroup_entry_alive(state, b));
    EXPECT_EQ(1, pk__pgroup_entry_alive(state, a)) << "the other entry's latch leaked";
    // Unknown ids are not alive.
    EXPECT_EQ(0, pk__pgroup_entry_alive(state, 1));

    // Once a is dead and reaped, the fallback says gone.
    kill(a, SIGKILL);
    int status;
    ASSERT_EQ(a, waitpid(a, &status, 0));
    EXPECT_EQ(0, pk__pgroup_entry_alive(state, a));

    KillAndReap(b);
    pk__backend_process_group.destroy(state, /*spare=*/1);
    close(fd_a);
    close(fd_b);
}

}  // namespace
