// Bad input to every exported function (the 23 pk_* symbols of
// abi/processkit.map): NULL pointers, NULL/freed/wrong-type/forged handles,
// versioned structs of every size, out-of-range enums and signals, bad argv,
// stdio and timeouts. Every failure must return the documented code with a
// non-empty pk_last_error(), never crash, and leave no process, fd or cgroup
// behind.
#include <signal.h>
#include <stddef.h>
#include <string.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#include <climits>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "processkit.h"
#include "support/pk_test.h"
#include "support/proc_util.h"
#include "support/test_programs.h"

namespace {

#define FIELD_END(type, field) (offsetof(type, field) + sizeof(((type*)0)->field))



// True when this process has no child at all (waitid with __WALL also sees
// children cloned without an exit signal, as processkit's are).
bool NoChildren() {
    return pktest::NoChildren();
}

// Every test checks that it leaves no process, no fd and no cgroup behind.
class BadInput : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        // Read the host facts once (pthread_once) before any fd is counted.
        pk_containment c = PK_CONTAINMENT_INIT;
        (void)pk_host_probe(PK_BACKEND_AUTO, &c);
    }
    void SetUp() override {
        ASSERT_TRUE(NoChildren()) << "a child exists before the test";
        fds_before_ = pktest::OpenFdCount();
    }
    void TearDown() override {
        EXPECT_TRUE(NoChildren()) << "the test left a child process behind";
        EXPECT_EQ(fds_before_, pktest::OpenFdCount()) << "the test leaked or closed fds";
        EXPECT_TRUE(pktest::OurCgroupLeaves().empty()) << "the test left a cgroup behind";
    }

    // A live group on the default backend with a `sleep 30` child.
    void MakeGroupAndChild(pk_group** g, pk_child** ch) {
        ASSERT_PK_OK(pk_group_create(nullptr, g));
        pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
        so.argv = sleep_argv_.get();
        so.stdin_fd = so.stdout_fd = so.stderr_fd = PK_STDIO_NULL;
        ASSERT_PK_OK(pk_group_spawn(*g, &so, ch));
    }

    // Frees the group (killing the child) and the child handle.
    void FreeGroupAndChild(pk_group* g, pk_child* ch) {
        EXPECT_EQ(PK_OK, pk_group_free(g)) << pk_last_error();
        EXPECT_EQ(PK_OK, pk_child_free(ch)) << pk_last_error();
    }

    int fds_before_ = -1;
    pktest::Argv sleep_argv_ = pktest::SleepArgv(30);
};

// Runs `argv` to completion in a fresh group; returns the spawn code and the
// exit status.
int RunToEnd(const pk_spawn_options& so, pk_exit_status* st, std::string* error = nullptr) {
    pk_group* g = nullptr;
    int rc = pk_group_create(nullptr, &g);
    if (rc != PK_OK)
        return rc;
    pk_child* ch = nullptr;
    rc = pk_group_spawn(g, &so, &ch);
    if (rc == PK_OK) {
        EXPECT_EQ(PK_OK, pk_child_wait(ch, 10000, st)) << pk_last_error();
        EXPECT_EQ(PK_OK, pk_child_free(ch));
    }
    std::string msg = pk_last_error();
    EXPECT_EQ(PK_OK, pk_group_free(g)) << pk_last_error();
    if (rc != PK_OK) {
        EXPECT_FALSE(msg.empty());
    }
    if (error)
        *error = msg;
    return rc;
}

// ---------------------------------------------------------------------------
// Functions without handles.

TEST_F(BadInput, VersionAndStaticStrings) {
    EXPECT_EQ(static_cast<uint32_t>(PK_VERSION_NUMBER), pk_version());
    ASSERT_NE(nullptr, pk_version_string());
    EXPECT_STREQ("1.2.0", pk_version_string());

    for (int code = PK_OK; code >= PK_ERR_STATE; code--) {
        const char* s = pk_strerror(code);
        ASSERT_NE(nullptr, s) << code;
        EXPECT_STRNE("", s) << code;
    }
    for (int code : {1, -16, -99, 12345, INT_MIN, INT_MAX}) {
        const char* s = pk_strerror(code);
        ASSERT_NE(nullptr, s) << code;
        EXPECT_STRNE("", s) << code;
    }

    EXPECT_STREQ("none", pk_mechanism_name(PK_MECHANISM_NONE));
    EXPECT_STREQ("process-group", pk_mechanism_name(PK_MECHANISM_PROCESS_GROUP));
    EXPECT_STREQ("cgroup-v2", pk_mechanism_name(PK_MECHANISM_CGROUP_V2));
    EXPECT_STREQ("job-object", pk_mechanism_name(PK_MECHANISM_JOB_OBJECT));
    EXPECT_EQ(nullptr, pk_mechanism_name(99));
    EXPECT_EQ(nullptr, pk_mechanism_name(-1));
    EXPECT_EQ(nullptr, pk_mechanism_name(4));
    ASSERT_NE(nullptr, pk_last_error());
}

TEST_F(BadInput, HostProbe) {
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_host_probe(PK_BACKEND_AUTO, nullptr));
    for (int32_t b : {-1, 4, 99, INT32_MIN, INT32_MAX}) {
        pk_containment c = PK_CONTAINMENT_INIT;
        c.mechanism = 77;
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_host_probe(b, &c));
        EXPECT_EQ(77, c.mechanism) << "out written on failure";
    }
    pk_containment c = PK_CONTAINMENT_INIT;
    c.size = 0;
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_host_probe(PK_BACKEND_AUTO, &c));
    c.size = 2;
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_host_probe(PK_BACKEND_AUTO, &c));
    c.size = 6;  // inside `mechanism`
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_host_probe(PK_BACKEND_AUTO, &c));
    c.size = FIELD_END(pk_containment, reason) - 1;  // inside `reason`
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_host_probe(PK_BACKEND_AUTO, &c));
}

// Output structs: a smaller caller size is written only up to that size; a
// larger one gets its unknown tail zeroed.
TEST_F(BadInput, HostProbeOutputSizes) {
    const size_t ends[] = {sizeof(uint32_t), FIELD_END(pk_containment, mechanism),
                           FIELD_END(pk_containment, features), FIELD_END(pk_containment, reason),
                           FIELD_END(pk_containment, cgroup_mount)};
    for (size_t end : ends) {
        unsigned char buf[sizeof(pk_containment) + 16];
        memset(buf, 0xAB, sizeof buf);
        uint32_t size = static_cast<uint32_t>(end);
        memcpy(buf, &size, sizeof size);
        ASSERT_PK_OK(pk_host_probe(pktest::kNativeBackend, reinterpret_cast<pk_containment*>(buf)));
        uint32_t size_after;
        memcpy(&size_after, buf, sizeof size_after);
        EXPECT_EQ(size, size_after);
        for (size_t i = end; i < sizeof buf; i++)
            ASSERT_EQ(0xAB, buf[i]) << "byte " << i << " written past caller size " << end;
        if (end >= FIELD_END(pk_containment, mechanism)) {
            int32_t mech;
            memcpy(&mech, buf + offsetof(pk_containment, mechanism), sizeof mech);
            EXPECT_EQ(pktest::kNativeMechanism, mech);
        }
    }
    struct {
        pk_containment c;
        uint64_t extra;
    } big;
    memset(&big, 0xFF, sizeof big);
    big.c.size = sizeof big;
    ASSERT_PK_OK(pk_host_probe(pktest::kNativeBackend, &big.c));
    EXPECT_EQ(sizeof big, big.c.size);
    EXPECT_EQ(0u, big.extra) << "the unknown tail of a newer caller's output must be zeroed";
    EXPECT_EQ(pktest::kNativeMechanism, big.c.mechanism);
}

// ---------------------------------------------------------------------------
// pk_group_create and its options struct.

TEST_F(BadInput, GroupCreateNullsAndEnums) {
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_create(nullptr, nullptr));
    pk_group_options o = PK_GROUP_OPTIONS_INIT;
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_create(&o, nullptr));

    pk_group* const sentinel = reinterpret_cast<pk_group*>(0x1234);
    struct Case {
        int32_t backend, min_mechanism, pdeathsig;
    } cases[] = {
        {99, 0, 0}, {-1, 0, 0}, {4, 0, 0}, {INT32_MIN, 0, 0},  // backend out of range
        {0, 7, 0},  {0, -1, 0}, {0, 4, 0}, {0, INT32_MAX, 0},  // min_mechanism out of range
        {0, 0, -1}, {0, 0, 65}, {0, 0, 999},                   // not a signal
    };
    for (const Case& c : cases) {
        o = PK_GROUP_OPTIONS_INIT;
        o.backend = c.backend;
        o.min_mechanism = c.min_mechanism;
        o.parent_death_signal = c.pdeathsig;
        pk_group* g = sentinel;
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_create(&o, &g));
        EXPECT_EQ(sentinel, g) << "out written on failure";
    }
    // A nonsensical CPU limit is refused (the library answers PK_ERR_LIMIT).
    for (double cpu : {-1.0, static_cast<double>(NAN), static_cast<double>(INFINITY)}) {
        o = PK_GROUP_OPTIONS_INIT;
        o.cpu_max = cpu;
        pk_group* g = sentinel;
        int rc = pk_group_create(&o, &g);
        EXPECT_EQ(PK_ERR_INVALID, rc) << "cpu_max " << cpu;
        EXPECT_STRNE("", pk_last_error());
        EXPECT_EQ(sentinel, g);
    }
    // The other OS's backend does not exist here.
    o = PK_GROUP_OPTIONS_INIT;
    o.backend = pktest::kForeignBackend;
    pk_group* g = sentinel;
    EXPECT_PK_ERR(PK_ERR_UNAVAILABLE, pk_group_create(&o, &g));
    EXPECT_EQ(sentinel, g);
}

TEST_F(BadInput, GroupOptionsSizes) {
    pk_group* const sentinel = reinterpret_cast<pk_group*>(0x1234);
    for (uint32_t size : {0u, 1u, 2u, 3u}) {
        pk_group_options o = PK_GROUP_OPTIONS_INIT;
        o.size = size;
        pk_group* g = sentinel;
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_create(&o, &g)) << "size " << size;
        EXPECT_EQ(sentinel, g);
    }
    // Sizes that end inside a field.
    for (size_t size : {size_t{6}, FIELD_END(pk_group_options, parent_death_signal) + 4,
                        FIELD_END(pk_group_options, memory_max) + 1, sizeof(pk_group_options) - 1}) {
        pk_group_options o = PK_GROUP_OPTIONS_INIT;
        o.size = static_cast<uint32_t>(size);
        pk_group* g = sentinel;
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_create(&o, &g)) << "size " << size;
        EXPECT_EQ(sentinel, g);
    }
    // An older caller's size on a field boundary: accepted, and the bytes past
    // it (garbage here, which would be refused if read) are ignored.
    for (size_t size : {sizeof(uint32_t), FIELD_END(pk_group_options, backend),
                        FIELD_END(pk_group_options, min_mechanism),
                        FIELD_END(pk_group_options, parent_death_signal)}) {
        pk_group_options o;
        memset(&o, 0xEE, sizeof o);  // min_mechanism etc. would all be invalid
        o.size = static_cast<uint32_t>(size);
        if (size >= FIELD_END(pk_group_options, backend))
            o.backend = pktest::kNativeBackend;
        if (size >= FIELD_END(pk_group_options, min_mechanism))
            o.min_mechanism = PK_MECHANISM_NONE;
        if (size >= FIELD_END(pk_group_options, parent_death_signal))
            o.parent_death_signal = 0;
        pk_group* g = nullptr;
        ASSERT_PK_OK(pk_group_create(&o, &g));
        ASSERT_NE(nullptr, g);
        EXPECT_EQ(PK_OK, pk_group_free(g)) << pk_last_error();
    }
    // A newer caller: zero tail accepted, non-zero tail refused.
    struct {
        pk_group_options o;
        uint64_t extra;
    } w;
    memset(&w, 0, sizeof w);
    w.o = PK_GROUP_OPTIONS_INIT;
    w.o.size = sizeof w;
    pk_group* g = nullptr;
    ASSERT_PK_OK(pk_group_create(&w.o, &g));
    EXPECT_EQ(PK_OK, pk_group_free(g)) << pk_last_error();
    for (int byte = 0; byte < 8; byte++) {
        w.extra = 0;
        reinterpret_cast<unsigned char*>(&w.extra)[byte] = 1;
        g = sentinel;
        EXPECT_PK_ERR(PK_ERR_VERSION, pk_group_create(&w.o, &g)) << "tail byte " << byte;
        EXPECT_EQ(sentinel, g);
    }
}

// ---------------------------------------------------------------------------
// Handles: NULL, freed, wrong type, forged.

TEST_F(BadInput, NullHandles) {
    pk_containment c = PK_CONTAINMENT_INIT;
    pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
    const char* argv[] = {"true", nullptr};
    so.argv = argv;
    pk_child* ch = nullptr;
    int32_t pids[4];
    size_t count = 0;
    pk_group_stats st = PK_GROUP_STATS_INIT;
    pk_shutdown_options sdo = PK_SHUTDOWN_OPTIONS_INIT;
    pk_shutdown_report rep = PK_SHUTDOWN_REPORT_INIT;
    int32_t pid = 0;
    int fd = 0;
    pk_exit_status es = PK_EXIT_STATUS_INIT;

    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_free(nullptr));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_containment(nullptr, &c));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_spawn(nullptr, &so, &ch));
    EXPECT_EQ(nullptr, ch);
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_adopt(nullptr, 1));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_signal(nullptr, SIGTERM));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_kill(nullptr));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_suspend(nullptr));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_resume(nullptr));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_members(nullptr, pids, 4, &count));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_stats_get(nullptr, &st));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_shutdown(nullptr, &sdo, &rep));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_child_pid(nullptr, &pid));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_child_pollfd(nullptr, &fd));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_child_wait(nullptr, 0, &es));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_child_signal(nullptr, SIGTERM));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_child_free(nullptr));
    // NULL for every pointer at once: still the handle error, no crash.
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_containment(nullptr, nullptr));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_spawn(nullptr, nullptr, nullptr));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_members(nullptr, nullptr, 0, nullptr));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_stats_get(nullptr, nullptr));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_shutdown(nullptr, nullptr, nullptr));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_child_pid(nullptr, nullptr));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_child_pollfd(nullptr, nullptr));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_child_wait(nullptr, 0, nullptr));
    EXPECT_EQ(0, pid);
    EXPECT_EQ(0, fd);
    EXPECT_EQ(0u, count);
}

// Every handle-taking function, run against one group and one child handle
// that are not (or no longer) valid.
void ExpectAllHandleErrors(pk_group* g, pk_child* ch, const char* what) {
    SCOPED_TRACE(what);
    pk_containment c = PK_CONTAINMENT_INIT;
    c.mechanism = 77;
    pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
    const char* argv[] = {"true", nullptr};
    so.argv = argv;
    pk_child* out = nullptr;
    int32_t pids[4] = {-7, -7, -7, -7};
    size_t count = 99;
    pk_group_stats st = PK_GROUP_STATS_INIT;
    st.live_processes = 77;
    pk_shutdown_options sdo = PK_SHUTDOWN_OPTIONS_INIT;
    sdo.grace_ms = 10;
    pk_shutdown_report rep = PK_SHUTDOWN_REPORT_INIT;
    rep.members_before = 77;
    int32_t pid = -7;
    int fd = -7;
    pk_exit_status es = PK_EXIT_STATUS_INIT;
    es.kind = 77;

    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_containment(g, &c));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_spawn(g, &so, &out));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_adopt(g, 1));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_signal(g, SIGTERM));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_kill(g));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_suspend(g));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_resume(g));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_members(g, pids, 4, &count));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_stats_get(g, &st));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_shutdown(g, &sdo, &rep));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_group_free(g));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_child_pid(ch, &pid));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_child_pollfd(ch, &fd));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_child_wait(ch, 0, &es));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_child_signal(ch, SIGTERM));
    EXPECT_PK_ERR(PK_ERR_HANDLE, pk_child_free(ch));

    // Out-parameters are written only on success.
    EXPECT_EQ(77, c.mechanism);
    EXPECT_EQ(nullptr, out);
    EXPECT_EQ(-7, pids[0]);
    EXPECT_EQ(99u, count);
    EXPECT_EQ(77u, st.live_processes);
    EXPECT_EQ(77u, rep.members_before);
    EXPECT_EQ(-7, pid);
    EXPECT_EQ(-7, fd);
    EXPECT_EQ(77, es.kind);
}

TEST_F(BadInput, FreedHandles) {
    pk_group* g = nullptr;
    pk_child* ch = nullptr;
    MakeGroupAndChild(&g, &ch);
    ASSERT_NE(nullptr, ch);
    pktest::ProcId id;
    int32_t pid = 0;
    ASSERT_PK_OK(pk_child_pid(ch, &pid));
    id = pktest::Identify(pid);
    ASSERT_PK_OK(pk_group_free(g));
    ASSERT_PK_OK(pk_child_free(ch));
    EXPECT_TRUE(pktest::WaitDead(id, 5000));
    ExpectAllHandleErrors(g, ch, "freed handles");

    // A freed handle stays invalid after its slot is reused by new objects.
    pk_group* g2 = nullptr;
    pk_child* ch2 = nullptr;
    MakeGroupAndChild(&g2, &ch2);
    ExpectAllHandleErrors(g, ch, "freed handles, new objects live");
    // The new objects are untouched by all that.
    int32_t pid2 = 0;
    EXPECT_EQ(PK_OK, pk_child_pid(ch2, &pid2)) << pk_last_error();
    EXPECT_GT(pid2, 0);
    FreeGroupAndChild(g2, ch2);
}

TEST_F(BadInput, WrongTypeHandles) {
    pk_group* g = nullptr;
    pk_child* ch = nullptr;
    MakeGroupAndChild(&g, &ch);
    // A child passed as a group and a group passed as a child.
    ExpectAllHandleErrors(reinterpret_cast<pk_group*>(ch), reinterpret_cast<pk_child*>(g), "swapped types");
    // Both objects are still intact and usable.
    int32_t pid = 0;
    EXPECT_EQ(PK_OK, pk_child_pid(ch, &pid)) << pk_last_error();
    size_t count = 0;
    int32_t pids[4];
    EXPECT_EQ(PK_OK, pk_group_members(g, pids, 4, &count)) << pk_last_error();
    EXPECT_GE(count, 1u);
    pk_exit_status es = PK_EXIT_STATUS_INIT;
    EXPECT_PK_ERR(PK_ERR_TIMEOUT, pk_child_wait(ch, 0, &es));
    FreeGroupAndChild(g, ch);
}

TEST_F(BadInput, ForgedHandles) {
    int local = 0;
    uint64_t heap_word = 0;
    std::vector<char> heap(256);
    ExpectAllHandleErrors(reinterpret_cast<pk_group*>(&local), reinterpret_cast<pk_child*>(&local), "stack address");
    ExpectAllHandleErrors(reinterpret_cast<pk_group*>(&heap_word), reinterpret_cast<pk_child*>(heap.data()),
                          "heap address");
    ExpectAllHandleErrors(reinterpret_cast<pk_group*>(1), reinterpret_cast<pk_child*>(~uintptr_t{0}),
                          "small and all-ones values");
    ExpectAllHandleErrors(reinterpret_cast<pk_group*>(&pk_version), reinterpret_cast<pk_child*>(&pk_version),
                          "code address");

    // A live handle, off by a few bytes: it points into the library's table
    // but is not a handle it gave out.
    pk_group* g = nullptr;
    pk_child* ch = nullptr;
    MakeGroupAndChild(&g, &ch);
    for (int delta : {1, 2, 7}) {
        ExpectAllHandleErrors(reinterpret_cast<pk_group*>(reinterpret_cast<char*>(g) + delta),
                              reinterpret_cast<pk_child*>(reinterpret_cast<char*>(ch) + delta),
                              ("live handle + " + std::to_string(delta)).c_str());
    }
    int32_t pid = 0;
    EXPECT_EQ(PK_OK, pk_child_pid(ch, &pid)) << pk_last_error();
    FreeGroupAndChild(g, ch);
}

// ---------------------------------------------------------------------------
// NULL pointers and bad values on valid handles.

TEST_F(BadInput, NullPointersOnValidHandles) {
    pk_group* g = nullptr;
    pk_child* ch = nullptr;
    MakeGroupAndChild(&g, &ch);

    EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_containment(g, nullptr));
    pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
    const char* argv[] = {"true", nullptr};
    so.argv = argv;
    pk_child* out = nullptr;
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_spawn(g, nullptr, &out));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_spawn(g, &so, nullptr));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_spawn(g, nullptr, nullptr));
    EXPECT_EQ(nullptr, out);
    size_t count = 99;
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_members(g, nullptr, 4, &count));
    EXPECT_EQ(99u, count);
    int32_t pids[4];
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_members(g, pids, 4, nullptr));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_members(g, nullptr, 0, nullptr));
    // Documented: pids may be NULL when capacity is 0.
    EXPECT_EQ(PK_OK, pk_group_members(g, nullptr, 0, &count)) << pk_last_error();
    EXPECT_GE(count, 1u);
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_stats_get(g, nullptr));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_child_pid(ch, nullptr));
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_child_pollfd(ch, nullptr));
    // pk_child_wait's status is optional: a still-running child times out.
    EXPECT_PK_ERR(PK_ERR_TIMEOUT, pk_child_wait(ch, 0, nullptr));

    FreeGroupAndChild(g, ch);
}

TEST_F(BadInput, BadSignalsAndTimeouts) {
    pk_group* g = nullptr;
    pk_child* ch = nullptr;
    MakeGroupAndChild(&g, &ch);
    int32_t pid = 0;
    ASSERT_PK_OK(pk_child_pid(ch, &pid));
    pktest::ProcId id = pktest::Identify(pid);

    for (int32_t sig : {0, -1, 65, 999, INT32_MIN, INT32_MAX}) {
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_signal(g, sig)) << "sig " << sig;
        pk_shutdown_options so = PK_SHUTDOWN_OPTIONS_INIT;
        so.signal = sig;
        so.grace_ms = 10;
        pk_shutdown_report rep = PK_SHUTDOWN_REPORT_INIT;
        rep.members_before = 77;
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_shutdown(g, &so, &rep)) << "sig " << sig;
        EXPECT_EQ(77u, rep.members_before);
    }
    for (int32_t sig : {-1, 65, 999, INT32_MIN, INT32_MAX})
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_child_signal(ch, sig)) << "sig " << sig;
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_child_signal(ch, 0)) << "sig 0";

    for (int32_t t : {-2, -3, -1000, INT32_MIN}) {
        pk_exit_status es = PK_EXIT_STATUS_INIT;
        es.kind = 77;
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_child_wait(ch, t, &es)) << "timeout " << t;
        EXPECT_EQ(77, es.kind);
    }
    // Nothing above touched the child.
    EXPECT_TRUE(pktest::Alive(id));
    EXPECT_NE('T', pktest::State(pid));  // not stopped (it may still be starting: R or S)

    // Adopt: not a pid, ourselves, not our child.
    for (int32_t p : {0, -1, -5, INT32_MIN})
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_adopt(g, p)) << "pid " << p;
#ifdef _WIN32
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_adopt(g, (int32_t)GetCurrentProcessId()));
#else
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_adopt(g, getpid()));
    EXPECT_PK_ERR(PK_ERR_NO_PROCESS, pk_group_adopt(g, getppid()));
#endif
    EXPECT_PK_ERR(PK_ERR_NO_PROCESS, pk_group_adopt(g, 1));
    EXPECT_PK_ERR(PK_ERR_NO_PROCESS, pk_group_adopt(g, INT32_MAX));

    FreeGroupAndChild(g, ch);
    EXPECT_TRUE(pktest::WaitDead(id, 5000));
}

// ---------------------------------------------------------------------------
// Output structs of the group and child calls.

#ifndef _WIN32 // signals, sh, /bin and ARG_MAX: POSIX semantics
TEST_F(BadInput, OutputStructSizes) {
    pk_group* g = nullptr;
    pk_child* ch = nullptr;
    MakeGroupAndChild(&g, &ch);

    // Size 0 and sizes inside a field are refused.
    {
        pk_containment c = PK_CONTAINMENT_INIT;
        c.size = 0;
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_containment(g, &c));
        c.size = 5;
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_containment(g, &c));
        pk_group_stats st = PK_GROUP_STATS_INIT;
        st.size = 0;
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_stats_get(g, &st));
        st.size = FIELD_END(pk_group_stats, cpu_time_us) - 3;
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_stats_get(g, &st));
        pk_shutdown_report rep = PK_SHUTDOWN_REPORT_INIT;
        rep.size = 0;
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_shutdown(g, nullptr, &rep));
    }

    // pk_group_containment: written up to the caller's size.
    for (size_t end : {sizeof(uint32_t), FIELD_END(pk_containment, mechanism), FIELD_END(pk_containment, reserved),
                       FIELD_END(pk_containment, reason), FIELD_END(pk_containment, cgroup_mount)}) {
        unsigned char buf[sizeof(pk_containment) + 8];
        memset(buf, 0xAB, sizeof buf);
        uint32_t size = static_cast<uint32_t>(end);
        memcpy(buf, &size, sizeof size);
        ASSERT_PK_OK(pk_group_containment(g, reinterpret_cast<pk_containment*>(buf)));
        for (size_t i = end; i < sizeof buf; i++)
            ASSERT_EQ(0xAB, buf[i]) << "containment byte " << i << " written past size " << end;
    }
    // pk_group_stats_get.
    for (size_t end : {sizeof(uint32_t), FIELD_END(pk_group_stats, live_processes),
                       FIELD_END(pk_group_stats, cpu_time_us)}) {
        unsigned char buf[sizeof(pk_group_stats) + 8];
        memset(buf, 0xAB, sizeof buf);
        uint32_t size = static_cast<uint32_t>(end);
        memcpy(buf, &size, sizeof size);
        ASSERT_PK_OK(pk_group_stats_get(g, reinterpret_cast<pk_group_stats*>(buf)));
        for (size_t i = end; i < sizeof buf; i++)
            ASSERT_EQ(0xAB, buf[i]) << "stats byte " << i << " written past size " << end;
        if (end >= FIELD_END(pk_group_stats, live_processes)) {
            uint32_t live;
            memcpy(&live, buf + offsetof(pk_group_stats, live_processes), sizeof live);
            EXPECT_GE(live, 1u);
        }
    }
    {
        struct {
            pk_group_stats s;
            uint64_t extra;
        } big;
        memset(&big, 0xFF, sizeof big);
        big.s.size = sizeof big;
        ASSERT_PK_OK(pk_group_stats_get(g, &big.s));
        EXPECT_EQ(0u, big.extra);
    }
    // pk_group_shutdown's report (no child left after the first one, so the
    // later ones return at once).
    for (size_t end : {FIELD_END(pk_shutdown_report, members_before), FIELD_END(pk_shutdown_report, drained),
                       FIELD_END(pk_shutdown_report, reserved)}) {
        unsigned char buf[sizeof(pk_shutdown_report) + 8];
        memset(buf, 0xAB, sizeof buf);
        uint32_t size = static_cast<uint32_t>(end);
        memcpy(buf, &size, sizeof size);
        pk_shutdown_options so = PK_SHUTDOWN_OPTIONS_INIT;
        so.grace_ms = 5000;
        ASSERT_PK_OK(pk_group_shutdown(g, &so, reinterpret_cast<pk_shutdown_report*>(buf)));
        for (size_t i = end; i < sizeof buf; i++)
            ASSERT_EQ(0xAB, buf[i]) << "report byte " << i << " written past size " << end;
    }
    // pk_child_wait's status: the child died of SIGTERM above.
    for (size_t end : {sizeof(uint32_t), FIELD_END(pk_exit_status, kind), FIELD_END(pk_exit_status, code),
                       FIELD_END(pk_exit_status, signal)}) {
        unsigned char buf[sizeof(pk_exit_status) + 8];
        memset(buf, 0xAB, sizeof buf);
        uint32_t size = static_cast<uint32_t>(end);
        memcpy(buf, &size, sizeof size);
        ASSERT_PK_OK(pk_child_wait(ch, 5000, reinterpret_cast<pk_exit_status*>(buf)));
        for (size_t i = end; i < sizeof buf; i++)
            ASSERT_EQ(0xAB, buf[i]) << "exit status byte " << i << " written past size " << end;
        if (end >= FIELD_END(pk_exit_status, kind)) {
            int32_t kind;
            memcpy(&kind, buf + offsetof(pk_exit_status, kind), sizeof kind);
            EXPECT_EQ(PK_EXIT_SIGNAL, kind);
        }
    }
    {
        pk_exit_status es = PK_EXIT_STATUS_INIT;
        es.size = 0;
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_child_wait(ch, 0, &es));
        es.size = 6;
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_child_wait(ch, 0, &es));
        struct {
            pk_exit_status s;
            uint32_t extra;
        } big;
        memset(&big, 0xFF, sizeof big);
        big.s.size = sizeof big;
        ASSERT_PK_OK(pk_child_wait(ch, 0, &big.s));
        EXPECT_EQ(0u, big.extra);
        EXPECT_EQ(PK_EXIT_SIGNAL, big.s.kind);
        EXPECT_EQ(SIGTERM, big.s.signal);
    }
    FreeGroupAndChild(g, ch);
}

#endif

// A report whose size ends inside a field is a bad argument: the call must
// refuse it before acting, not signal the whole tree and then fail.
TEST_F(BadInput, ShutdownRefusesBadReportBeforeActing) {
    pk_group* g = nullptr;
    pk_child* ch = nullptr;
    MakeGroupAndChild(&g, &ch);
    int32_t pid = 0;
    ASSERT_PK_OK(pk_child_pid(ch, &pid));
    pktest::ProcId id = pktest::Identify(pid);
    pk_shutdown_options so = PK_SHUTDOWN_OPTIONS_INIT;
    so.grace_ms = 100;
    pk_shutdown_report rep = PK_SHUTDOWN_REPORT_INIT;
    rep.size = 6;  // inside members_before
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_shutdown(g, &so, &rep));
    EXPECT_TRUE(pktest::Alive(id)) << "a refused shutdown still killed the child";
    FreeGroupAndChild(g, ch);
}

// ---------------------------------------------------------------------------
// Spawn options.

#ifndef _WIN32 // signals, sh, /bin and ARG_MAX: POSIX semantics
TEST_F(BadInput, SpawnOptionsSizes) {
    pk_group* g = nullptr;
    ASSERT_PK_OK(pk_group_create(nullptr, &g));
    const char* argv[] = {"true", nullptr};
    pk_child* const sentinel = reinterpret_cast<pk_child*>(0x1234);

    for (size_t size : {size_t{0}, size_t{2}, size_t{6}, FIELD_END(pk_spawn_options, argv) - 1,
                        FIELD_END(pk_spawn_options, stdin_fd) + 2, sizeof(pk_spawn_options) - 1}) {
        pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
        so.argv = argv;
        so.size = static_cast<uint32_t>(size);
        pk_child* ch = sentinel;
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_spawn(g, &so, &ch)) << "size " << size;
        EXPECT_EQ(sentinel, ch);
    }
    // Sizes on a field boundary that cut argv off: argv defaults to NULL,
    // which is an invalid spawn.
    for (size_t size : {sizeof(uint32_t), FIELD_END(pk_spawn_options, flags), FIELD_END(pk_spawn_options, program)}) {
        pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
        so.argv = argv;
        so.size = static_cast<uint32_t>(size);
        pk_child* ch = sentinel;
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_spawn(g, &so, &ch)) << "size " << size;
        EXPECT_EQ(sentinel, ch);
    }

    // An older caller whose struct ends after cwd: the stdio slots and the
    // parent-death signal take their defaults (inherit, the group's). The
    // bytes after it hold values that would be refused if read. The child
    // checks that its fds 0-2 are ours.
    std::string script;
    for (int fd = 0; fd < 3; fd++) {
        char path[64], target[4096];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof target - 1);
        ASSERT_GT(n, 0) << "fd " << fd << " of the test is not open";
        target[n] = '\0';
        script += std::string(script.empty() ? "" : " && ") + "test \"$(readlink /proc/$$/fd/" +
                  std::to_string(fd) + ")\" = '" + target + "'";
    }
    const char* check_argv[] = {"sh", "-c", script.c_str(), nullptr};
    for (size_t size : {FIELD_END(pk_spawn_options, argv), FIELD_END(pk_spawn_options, envp),
                        FIELD_END(pk_spawn_options, cwd)}) {
        pk_spawn_options so;
        memset(&so, 0xEE, sizeof so);
        so.size = static_cast<uint32_t>(size);
        so.flags = 0;
        so.program = nullptr;
        so.argv = check_argv;
        if (size >= FIELD_END(pk_spawn_options, envp))
            so.envp = nullptr;
        if (size >= FIELD_END(pk_spawn_options, cwd))
            so.cwd = nullptr;
        so.stdin_fd = -3;  // past the caller's size: never read
        so.stdout_fd = 1000;
        so.stderr_fd = INT32_MIN;
        so.parent_death_signal = 999;
        pk_child* ch = nullptr;
        ASSERT_PK_OK(pk_group_spawn(g, &so, &ch));
        pk_exit_status es = PK_EXIT_STATUS_INIT;
        ASSERT_PK_OK(pk_child_wait(ch, 10000, &es));
        EXPECT_EQ(PK_EXIT_CODE, es.kind) << "size " << size;
        EXPECT_EQ(0, es.code) << "size " << size << ": stdio was not inherited";
        EXPECT_EQ(PK_OK, pk_child_free(ch));
    }

    // A newer caller: zero tail accepted, any non-zero tail byte refused.
    struct {
        pk_spawn_options o;
        uint64_t extra;
    } w;
    memset(&w, 0, sizeof w);
    w.o = PK_SPAWN_OPTIONS_INIT;
    w.o.size = sizeof w;
    w.o.argv = argv;
    pk_child* ch = nullptr;
    ASSERT_PK_OK(pk_group_spawn(g, &w.o, &ch));
    pk_exit_status es = PK_EXIT_STATUS_INIT;
    EXPECT_EQ(PK_OK, pk_child_wait(ch, 10000, &es)) << pk_last_error();
    EXPECT_EQ(PK_EXIT_CODE, es.kind);
    EXPECT_EQ(0, es.code);
    EXPECT_EQ(PK_OK, pk_child_free(ch));
    for (int byte = 0; byte < 8; byte++) {
        w.extra = 0;
        reinterpret_cast<unsigned char*>(&w.extra)[byte] = 0x80;
        ch = sentinel;
        EXPECT_PK_ERR(PK_ERR_VERSION, pk_group_spawn(g, &w.o, &ch)) << "tail byte " << byte;
        EXPECT_EQ(sentinel, ch);
    }
    EXPECT_EQ(PK_OK, pk_group_free(g)) << pk_last_error();
}

TEST_F(BadInput, SpawnBadArgvStdioFlags) {
    pk_group* g = nullptr;
    ASSERT_PK_OK(pk_group_create(nullptr, &g));
    pk_child* const sentinel = reinterpret_cast<pk_child*>(0x1234);
    auto expect_invalid = [&](const pk_spawn_options& so, const char* what) {
        pk_child* ch = sentinel;
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_spawn(g, &so, &ch)) << what;
        EXPECT_EQ(sentinel, ch) << what;
    };
    const char* good[] = {"true", nullptr};

    // Empty argv.
    pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
    so.argv = nullptr;
    expect_invalid(so, "argv NULL");
    so.program = "/bin/true";
    expect_invalid(so, "argv NULL with a program");
    const char* empty[] = {nullptr};
    so = PK_SPAWN_OPTIONS_INIT;
    so.argv = empty;
    expect_invalid(so, "argv[0] NULL");
    so.program = "/bin/true";
    expect_invalid(so, "argv[0] NULL with a program");
    const char* blank[] = {"", nullptr};
    so = PK_SPAWN_OPTIONS_INIT;
    so.argv = blank;
    expect_invalid(so, "argv[0] empty");
    so = PK_SPAWN_OPTIONS_INIT;
    so.argv = good;
    so.program = "";
    expect_invalid(so, "program empty");

    // Unknown flags.
    for (uint32_t flags : {1u << 3, 1u << 31, 0xFFFFFFFFu, PK_SPAWN_NEW_SESSION | (1u << 7)}) {
        so = PK_SPAWN_OPTIONS_INIT;
        so.argv = good;
        so.flags = flags;
        expect_invalid(so, "unknown flags");
    }

    // Bad stdio: below PK_STDIO_NULL, or a closed fd.
    int closed_fd = 1000;
    while (fcntl(closed_fd, F_GETFD) >= 0)
        closed_fd++;
    for (int slot = 0; slot < 3; slot++) {
        for (int32_t fd : {-3, -100, INT32_MIN, closed_fd, INT32_MAX}) {
            so = PK_SPAWN_OPTIONS_INIT;
            so.argv = good;
            int32_t* slots[3] = {&so.stdin_fd, &so.stdout_fd, &so.stderr_fd};
            *slots[slot] = fd;
            expect_invalid(so, ("stdio slot " + std::to_string(slot) + " fd " + std::to_string(fd)).c_str());
        }
    }

    // Parent-death signal out of range.
    for (int32_t sig : {-2, -100, 65, 999, INT32_MAX}) {
        so = PK_SPAWN_OPTIONS_INIT;
        so.argv = good;
        so.parent_death_signal = sig;
        expect_invalid(so, ("parent_death_signal " + std::to_string(sig)).c_str());
    }

    // Programs that cannot run leave nothing behind.
    {
        pk_child* ch = sentinel;
        const char* missing[] = {"processkit-no-such-program-xyz", nullptr};
        so = PK_SPAWN_OPTIONS_INIT;
        so.argv = missing;
        EXPECT_PK_ERR(PK_ERR_NOT_FOUND, pk_group_spawn(g, &so, &ch));
        EXPECT_EQ(sentinel, ch);
        so.flags = PK_SPAWN_NO_PATH_SEARCH;
        so.argv = good;  // "true" without a PATH search: not in the cwd
        EXPECT_PK_ERR(PK_ERR_NOT_FOUND, pk_group_spawn(g, &so, &ch));
        so = PK_SPAWN_OPTIONS_INIT;
        so.argv = good;
        so.cwd = "/processkit/no/such/dir";
        EXPECT_PK_ERR(PK_ERR_NOT_FOUND, pk_group_spawn(g, &so, &ch));
        so = PK_SPAWN_OPTIONS_INIT;
        so.argv = good;
        so.program = "/dev/null";
        EXPECT_PK_ERR(PK_ERR_PERMISSION, pk_group_spawn(g, &so, &ch));
        EXPECT_EQ(sentinel, ch);
    }
    size_t count = 99;
    EXPECT_EQ(PK_OK, pk_group_members(g, nullptr, 0, &count)) << pk_last_error();
    EXPECT_EQ(0u, count) << "a refused spawn left a member";
    EXPECT_TRUE(NoChildren());
    EXPECT_EQ(PK_OK, pk_group_free(g)) << pk_last_error();
}

// Huge argv and env: run `true`, or fail cleanly with a message.
TEST_F(BadInput, HugeArgvAndEnv) {
    std::vector<std::string> storage(10000, std::string(100, 'a'));
    for (size_t i = 0; i < storage.size(); i++)
        storage[i].replace(0, std::to_string(i).size(), std::to_string(i));
    std::vector<const char*> argv = {"true"};
    for (const std::string& s : storage)
        argv.push_back(s.c_str());
    argv.push_back(nullptr);

    pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
    so.argv = argv.data();
    pk_exit_status es = PK_EXIT_STATUS_INIT;
    int rc = RunToEnd(so, &es);
    if (rc == PK_OK) {
        EXPECT_EQ(PK_EXIT_CODE, es.kind);
        EXPECT_EQ(0, es.code);
    } else {
        ADD_FAILURE() << "10000 x 100-byte argv did not run (within ARG_MAX here): " << rc;
    }

    std::vector<std::string> env_storage;
    for (size_t i = 0; i < 10000; i++)
        env_storage.push_back("PK_VAR_" + std::to_string(i) + "=" + std::string(100, 'v'));
    std::vector<const char*> envp;
    for (const std::string& s : env_storage)
        envp.push_back(s.c_str());
    envp.push_back("PATH=/usr/bin:/bin");
    envp.push_back(nullptr);
    const char* small_argv[] = {"true", nullptr};
    so = PK_SPAWN_OPTIONS_INIT;
    so.argv = small_argv;
    so.envp = envp.data();
    es = PK_EXIT_STATUS_INIT;
    rc = RunToEnd(so, &es);
    if (rc == PK_OK) {
        EXPECT_EQ(PK_EXIT_CODE, es.kind);
        EXPECT_EQ(0, es.code);
    } else {
        ADD_FAILURE() << "10000-variable env did not run: " << rc;
    }

    // Past the kernel's limits: a single 256 KiB argument (MAX_ARG_STRLEN is
    // 128 KiB) and 4 MiB of env. Either may only fail, cleanly.
    std::string huge_arg(256 * 1024, 'x');
    const char* huge_argv[] = {"true", huge_arg.c_str(), nullptr};
    so = PK_SPAWN_OPTIONS_INIT;
    so.argv = huge_argv;
    rc = RunToEnd(so, &es);
    EXPECT_NE(PK_OK, rc) << "a 256 KiB argument cannot reach exec";
    EXPECT_LT(rc, 0);

    std::vector<std::string> big_env(4096, std::string(1024, 'e'));
    std::vector<const char*> big_envp;
    for (size_t i = 0; i < big_env.size(); i++) {
        big_env[i].replace(0, 3, "E_=");
        big_env[i].insert(1, std::to_string(i));
        big_envp.push_back(big_env[i].c_str());
    }
    big_envp.push_back(nullptr);
    so = PK_SPAWN_OPTIONS_INIT;
    so.program = "/bin/true";
    so.argv = small_argv;
    so.envp = big_envp.data();
    es = PK_EXIT_STATUS_INIT;
    std::string why;
    rc = RunToEnd(so, &es, &why);
    // exec takes at most a quarter of the stack limit in argv + envp.
    struct rlimit stack;
    const bool too_big = getrlimit(RLIMIT_STACK, &stack) == 0 && stack.rlim_cur != RLIM_INFINITY &&
                         stack.rlim_cur / 4 < big_env.size() * 1024;
    if (too_big) {
        EXPECT_LT(rc, 0) << "4 MiB of env cannot reach exec under a " << stack.rlim_cur << "-byte stack limit";
        EXPECT_NE(std::string::npos, why.find("errno 7")) << "not reported as E2BIG: " << why;
    } else if (rc == PK_OK) {
        EXPECT_EQ(PK_EXIT_CODE, es.kind);
        EXPECT_EQ(0, es.code);
    } else {
        ADD_FAILURE() << "4 MiB of env failed under an unlimited stack: " << why;
    }
}

// Shutdown and group options with older / newer sizes.
#endif

TEST_F(BadInput, ShutdownOptionsSizes) {
    pk_group* g = nullptr;
    ASSERT_PK_OK(pk_group_create(nullptr, &g));
    for (size_t size : {size_t{0}, size_t{3}, size_t{5}, FIELD_END(pk_shutdown_options, grace_ms) - 1,
                        sizeof(pk_shutdown_options) - 2}) {
        pk_shutdown_options so = PK_SHUTDOWN_OPTIONS_INIT;
        so.size = static_cast<uint32_t>(size);
        EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_shutdown(g, &so, nullptr)) << "size " << size;
    }
    // Older sizes: the fields past them (garbage: signal 999) are not read.
    for (size_t size : {sizeof(uint32_t), FIELD_END(pk_shutdown_options, signal),
                        FIELD_END(pk_shutdown_options, grace_ms)}) {
        pk_shutdown_options so;
        memset(&so, 0xEE, sizeof so);
        so.size = static_cast<uint32_t>(size);
        if (size >= FIELD_END(pk_shutdown_options, signal))
            so.signal = SIGTERM;
        if (size >= FIELD_END(pk_shutdown_options, grace_ms))
            so.grace_ms = 50;
        pk_shutdown_report rep = PK_SHUTDOWN_REPORT_INIT;
        EXPECT_EQ(PK_OK, pk_group_shutdown(g, &so, &rep)) << "size " << size << ": " << pk_last_error();
        EXPECT_NE(0, rep.drained);
    }
    struct {
        pk_shutdown_options o;
        uint64_t extra;
    } w;
    memset(&w, 0, sizeof w);
    w.o = PK_SHUTDOWN_OPTIONS_INIT;
    w.o.size = sizeof w;
    EXPECT_EQ(PK_OK, pk_group_shutdown(g, &w.o, nullptr)) << pk_last_error();
    w.extra = uint64_t{1} << 40;
    EXPECT_PK_ERR(PK_ERR_VERSION, pk_group_shutdown(g, &w.o, nullptr));
    EXPECT_EQ(PK_OK, pk_group_free(g)) << pk_last_error();
}

// ---------------------------------------------------------------------------
// Errors are per thread.

TEST_F(BadInput, LastErrorIsThreadLocal) {
    std::mutex m;
    std::condition_variable cv;
    int phase = 0;
    std::string b_before, b_after;

    std::thread b([&] {
        // B fails first with its own message.
        (void)pk_host_probe(99, nullptr);
        EXPECT_EQ(PK_ERR_HANDLE, pk_child_pid(nullptr, nullptr));
        b_before = pk_last_error();
        {
            std::unique_lock<std::mutex> lk(m);
            phase = 1;
            cv.notify_all();
            cv.wait(lk, [&] { return phase == 2; });
        }
        b_after = pk_last_error();
    });
    {
        std::unique_lock<std::mutex> lk(m);
        cv.wait(lk, [&] { return phase == 1; });
    }
    // A fails with a different error, and A's successful calls clear only A's.
    EXPECT_PK_ERR(PK_ERR_INVALID, pk_group_create(nullptr, nullptr));
    std::string a_msg = pk_last_error();
    EXPECT_NE(a_msg, b_before);
    {
        std::lock_guard<std::mutex> lk(m);
        phase = 2;
        cv.notify_all();
    }
    b.join();
    EXPECT_FALSE(b_before.empty());
    EXPECT_EQ(b_before, b_after) << "thread A's error changed thread B's message";
    EXPECT_EQ(a_msg, pk_last_error()) << "thread B changed thread A's message";

    // A fresh thread starts with no message even though this one has one.
    std::string fresh = "unset";
    std::thread c([&] { fresh = pk_last_error(); });
    c.join();
    EXPECT_EQ("", fresh);
    // A successful call clears this thread's message.
    pk_containment cont = PK_CONTAINMENT_INIT;
    EXPECT_EQ(PK_OK, pk_host_probe(PK_BACKEND_AUTO, &cont));
    EXPECT_STREQ("", pk_last_error());
}

}  // namespace

// Issue 16.1: a freed handle must never alias a later one, however many
// new/free cycles pass (the old 6-bit generation wrapped after 64 reuses).
TEST_F(BadInput, StaleHandleNeverAliasesAfterManyCycles) {
    pk_command *stale = nullptr;
    ASSERT_EQ(pk_command_new("true", &stale), PK_OK);
    ASSERT_EQ(pk_command_free(stale), PK_OK);
    for (int i = 0; i < 20000; i++) {
        pk_command *c = nullptr;
        ASSERT_EQ(pk_command_new("true", &c), PK_OK);
        ASSERT_NE(static_cast<void *>(c), static_cast<void *>(stale)) << "cycle " << i;
        ASSERT_EQ(pk_command_free(c), PK_OK);
    }
    EXPECT_EQ(pk_command_arg(stale, "x"), PK_ERR_HANDLE);
}

// Issue 16.2: a wild size must be refused before the tail check reads it.
TEST_F(BadInput, HugeStructSizeRefused) {
    pk_group_options opts = PK_GROUP_OPTIONS_INIT;
    opts.size = 0xFFFFFFFFu;
    pk_group *g = nullptr;
    EXPECT_EQ(pk_group_create(&opts, &g), PK_ERR_VERSION);
    EXPECT_EQ(g, nullptr);
}
