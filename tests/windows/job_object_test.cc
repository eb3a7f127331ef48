// The job-object backend with real Windows processes, under wine: the
// group API on the same terms as tests/group_test.cc on Linux. Where wine
// differs from Windows the test says so in a skip message.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <io.h>
#include <windows.h>

#include <tlhelp32.h>

#include <algorithm>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "processkit.h"
#include "support/proc_util.h"
#include "win_test_util.h"

extern "C" {
#include "backend.h"
int pk__group_create_with_ops(const pk_backend_ops *ops, const pk_group_options *opts, pk_group **out);
}

using pktest::Alive;
using pktest::Identify;
using pktest::WaitDead;
using Identity = pktest::ProcId;

namespace {

struct Spawned {
    pk_child *child = nullptr;
    Identity self;
    std::string first_line; // what the child printed first (a pid, for "grandchild")
};

// Starts pk_test_child with args in group; with read_line, waits for the
// first line of its stdout.
int Spawn(pk_group *group, const std::vector<std::string> &args, Spawned *out, bool read_line = false)
{
    std::string child = pkwin::TestChild();
    std::vector<const char *> argv = {child.c_str()};
    for (const auto &a : args)
        argv.push_back(a.c_str());
    argv.push_back(nullptr);
    int fds[2] = {-1, -1};
    pk_spawn_options opts = PK_SPAWN_OPTIONS_INIT;
    opts.argv = argv.data();
    opts.stdout_fd = PK_STDIO_NULL;
    if (read_line) {
        if (_pipe(fds, 4096, _O_BINARY | _O_NOINHERIT) != 0)
            return PK_ERR_OS;
        opts.stdout_fd = fds[1];
    }
    int rc = pk_group_spawn(group, &opts, &out->child);
    if (fds[1] >= 0)
        _close(fds[1]);
    if (rc == PK_OK) {
        int32_t pid = 0;
        pk_child_pid(out->child, &pid);
        out->self = Identify((DWORD)pid);
        if (read_line) {
            char c;
            while (_read(fds[0], &c, 1) == 1 && c != '\n')
                out->first_line += c;
        }
    }
    if (fds[0] >= 0)
        _close(fds[0]);
    return rc;
}

pk_group *NewGroup(const pk_group_options *opts = nullptr)
{
    pk_group *g = nullptr;
    EXPECT_EQ(pk_group_create(opts, &g), PK_OK) << pk_last_error();
    return g;
}

TEST(JobProbe, HostReportsJobObject)
{
    pk_containment c = PK_CONTAINMENT_INIT;
    ASSERT_EQ(pk_host_probe(PK_BACKEND_AUTO, &c), PK_OK);
    EXPECT_EQ(c.mechanism, PK_MECHANISM_JOB_OBJECT);
    EXPECT_STREQ(c.reason, "");
    EXPECT_TRUE(c.features & PK_FEATURE_ATOMIC_KILL);
    EXPECT_TRUE(c.features & PK_FEATURE_OWNER_DEATH);
    EXPECT_TRUE(c.features & PK_FEATURE_ALL_MEMBERS);
    EXPECT_FALSE(c.features & PK_FEATURE_SIGNALS);
    EXPECT_FALSE(c.features & PK_FEATURE_FREEZE); // thread suspension, not a freeze

    pk_containment cg = PK_CONTAINMENT_INIT;
    ASSERT_EQ(pk_host_probe(PK_BACKEND_CGROUP_V2, &cg), PK_OK);
    EXPECT_EQ(cg.mechanism, PK_MECHANISM_NONE);
    EXPECT_NE(std::string(cg.reason).find("Linux"), std::string::npos) << cg.reason;
}

TEST(JobGroup, ReportsItsMechanismAndRefusesLinuxBackends)
{
    pk_group *g = NewGroup();
    pk_containment c = PK_CONTAINMENT_INIT;
    ASSERT_EQ(pk_group_containment(g, &c), PK_OK);
    EXPECT_EQ(c.mechanism, PK_MECHANISM_JOB_OBJECT);
    EXPECT_STREQ(pk_mechanism_name(c.mechanism), "job-object");
    EXPECT_EQ(pk_group_free(g), PK_OK);

    pk_group_options o = PK_GROUP_OPTIONS_INIT;
    o.min_mechanism = PK_MECHANISM_CGROUP_V2; // job objects are as strong
    g = NewGroup(&o);
    EXPECT_EQ(pk_group_free(g), PK_OK);

    o = PK_GROUP_OPTIONS_INIT;
    o.backend = PK_BACKEND_PROCESS_GROUP;
    pk_group *none = nullptr;
    EXPECT_EQ(pk_group_create(&o, &none), PK_ERR_UNAVAILABLE);
    EXPECT_EQ(none, nullptr);
}

TEST(JobGroup, FreeKillsChildAndGrandchild)
{
    pk_group *g = NewGroup();
    Spawned s;
    ASSERT_EQ(Spawn(g, {"grandchild", "sleep", "600000"}, &s, true), PK_OK) << pk_last_error();
    Identity grandchild = Identify((DWORD)strtoul(s.first_line.c_str(), nullptr, 10));
    ASSERT_TRUE(Alive(s.self));
    ASSERT_TRUE(Alive(grandchild)) << "grandchild pid line: " << s.first_line;

    EXPECT_EQ(pk_group_free(g), PK_OK) << pk_last_error();
    EXPECT_TRUE(WaitDead(s.self, 10000));
    EXPECT_TRUE(WaitDead(grandchild, 10000));
    pk_exit_status st = PK_EXIT_STATUS_INIT;
    EXPECT_EQ(pk_child_wait(s.child, 0, &st), PK_OK);
    EXPECT_EQ(st.kind, PK_EXIT_CODE);
    EXPECT_EQ(st.code, 1); // what TerminateJobObject leaves, as Rust's Child::kill does
    pk_child_free(s.child);
}

TEST(JobGroup, OwnerKilledHardTakesTheTreeDown)
{
    // No pk_group_free, no TerminateJobObject: the owner is terminated and
    // the kernel closing its job handle (kill-on-close) must do it all.
    std::string cmd = "\"" + pkwin::OwnerHelper() + "\" \"" + pkwin::TestChild() + "\"";
    SECURITY_ATTRIBUTES sa = {sizeof sa, nullptr, TRUE};
    HANDLE rd, wr;
    ASSERT_TRUE(CreatePipe(&rd, &wr, &sa, 0));
    SetHandleInformation(rd, HANDLE_FLAG_INHERIT, 0);
    STARTUPINFOA si = {};
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdOutput = wr;
    si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    PROCESS_INFORMATION pi;
    std::vector<char> line(cmd.begin(), cmd.end());
    line.push_back('\0');
    ASSERT_TRUE(CreateProcessA(nullptr, line.data(), nullptr, nullptr, TRUE, 0, nullptr, nullptr, &si, &pi));
    CloseHandle(wr);
    std::string text;
    char c;
    DWORD n;
    while (ReadFile(rd, &c, 1, &n, nullptr) && n == 1 && c != '\n')
        text += c;
    CloseHandle(rd);
    unsigned long child_pid = 0, grandchild_pid = 0;
    ASSERT_EQ(sscanf(text.c_str(), "%lu %lu", &child_pid, &grandchild_pid), 2) << "owner printed: " << text;
    Identity child = Identify(child_pid), grandchild = Identify(grandchild_pid);
    ASSERT_TRUE(Alive(child));
    ASSERT_TRUE(Alive(grandchild));

    ASSERT_TRUE(TerminateProcess(pi.hProcess, 9));
    WaitForSingleObject(pi.hProcess, 10000);
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    EXPECT_TRUE(WaitDead(child, 10000));
    EXPECT_TRUE(WaitDead(grandchild, 10000));
}

// A backend that refuses every child, to prove the core kills a child it
// could not place before that child ever runs.
const pk_backend_ops *real_ops;
Identity refused;

int RefuseTrack(void *state, pid_t pid, pk_proc_ref proc, int new_session)
{
    (void)state, (void)proc, (void)new_session;
    refused = Identify(pid);
    return PK_ERR_OS;
}

TEST(JobGroup, AssignmentFailureKillsTheChild)
{
    real_ops = &pk__backend_job_object;
    static pk_backend_ops refusing;
    refusing = *real_ops;
    refusing.track = RefuseTrack;
    pk_group *g = nullptr;
    ASSERT_EQ(pk__group_create_with_ops(&refusing, nullptr, &g), PK_OK);
    std::string marker = pkwin::TempPath("must-not-exist");
    Spawned s;
    // Had it run a single instruction it would have created the marker.
    EXPECT_EQ(Spawn(g, {"heartbeat", marker}, &s), PK_ERR_OS);
    EXPECT_EQ(s.child, nullptr);
    ASSERT_NE(refused.pid, 0) << "the backend never saw the child";
    EXPECT_TRUE(WaitDead(refused, 10000));
    Sleep(100);
    EXPECT_EQ(GetFileAttributesA(marker.c_str()), INVALID_FILE_ATTRIBUTES) << "the refused child ran";
    EXPECT_EQ(pk_group_free(g), PK_OK);
}

TEST(JobGroup, ProcessLimitRefusesAnAssignmentAndKillsTheChild)
{
    pk_group_options o = PK_GROUP_OPTIONS_INIT;
    o.pids_max = 1;
    pk_group *g = NewGroup(&o);
    Spawned first, second;
    ASSERT_EQ(Spawn(g, {"sleep", "600000"}, &first), PK_OK) << pk_last_error();
    int rc = Spawn(g, {"sleep", "600000"}, &second);
    if (rc == PK_OK) {
        bool second_alive = Alive(second.self);
        pk_child_free(second.child);
        pk_child_free(first.child);
        pk_group_free(g);
        GTEST_SKIP() << "wine does not enforce JOB_OBJECT_LIMIT_ACTIVE_PROCESS on AssignProcessToJobObject "
                        "(Windows refuses the assignment and terminates the process); second child alive: "
                     << second_alive;
    }
    EXPECT_NE(rc, PK_OK);
    EXPECT_EQ(second.child, nullptr);
    EXPECT_TRUE(Alive(first.self));
    pk_child_free(first.child);
    EXPECT_EQ(pk_group_free(g), PK_OK);
    EXPECT_TRUE(WaitDead(first.self, 10000));
}

TEST(JobGroup, MembersListsEveryProcessInTheJob)
{
    pk_group *g = NewGroup();
    Spawned s;
    ASSERT_EQ(Spawn(g, {"grandchild", "sleep", "600000"}, &s, true), PK_OK) << pk_last_error();
    DWORD grandchild = strtoul(s.first_line.c_str(), nullptr, 10);
    int32_t pids[16];
    size_t count = 0;
    ASSERT_EQ(pk_group_members(g, pids, 16, &count), PK_OK) << pk_last_error();
    std::vector<int32_t> got(pids, pids + (count < 16 ? count : 16));
    EXPECT_EQ(count, 2u);
    EXPECT_NE(std::find(got.begin(), got.end(), (int32_t)s.self.pid), got.end());
    EXPECT_NE(std::find(got.begin(), got.end(), (int32_t)grandchild), got.end());
    size_t only_count = 0;
    EXPECT_EQ(pk_group_members(g, nullptr, 0, &only_count), PK_OK);
    EXPECT_EQ(only_count, 2u);
    pk_child_free(s.child);
    EXPECT_EQ(pk_group_free(g), PK_OK);
}

TEST(JobGroup, StatsCountLiveProcessesAndCpuTime)
{
    pk_group *g = NewGroup();
    Spawned s;
    ASSERT_EQ(Spawn(g, {"grandchild", "sleep", "600000"}, &s, true), PK_OK) << pk_last_error();
    pk_group_stats st = PK_GROUP_STATS_INIT;
    ASSERT_EQ(pk_group_stats_get(g, &st), PK_OK) << pk_last_error();
    EXPECT_EQ(st.live_processes, 2u);
    EXPECT_GE(st.cpu_time_us, 0);
    if (st.peak_memory_bytes == -1)
        std::printf("note: peak job memory unknown here: wine keeps no peak commit (Windows does)\n");
    else
        EXPECT_GT(st.peak_memory_bytes, 0);
    ASSERT_EQ(pk_group_kill(g), PK_OK);
    EXPECT_TRUE(WaitDead(s.self, 10000));
    for (int i = 0; i < 1000; i++) {
        ASSERT_EQ(pk_group_stats_get(g, &st), PK_OK);
        if (st.live_processes == 0)
            break;
        Sleep(10);
    }
    EXPECT_EQ(st.live_processes, 0u);
    pk_child_free(s.child);
    EXPECT_EQ(pk_group_free(g), PK_OK);
}

unsigned long ReadBeat(const std::string &path)
{
    // The writer rewrites the file; retry a read that lands mid-rewrite.
    for (int i = 0; i < 50; i++) {
        FILE *f = fopen(path.c_str(), "r");
        unsigned long v = 0;
        if (f) {
            int ok = fscanf(f, "%lu", &v);
            fclose(f);
            if (ok == 1)
                return v;
        }
        Sleep(5);
    }
    return 0;
}

TEST(JobGroup, SuspendStopsEveryThreadAndResumeRestartsThem)
{
    pk_group *g = NewGroup();
    std::string beat = pkwin::TempPath("heartbeat");
    Spawned s;
    ASSERT_EQ(Spawn(g, {"heartbeat", beat}, &s), PK_OK) << pk_last_error();
    unsigned long before = 0;
    for (int i = 0; i < 500 && (before = ReadBeat(beat)) < 3; i++)
        Sleep(10);
    ASSERT_GE(before, 3u) << "the heartbeat never started";

    ASSERT_EQ(pk_group_suspend(g), PK_OK) << pk_last_error();
    ASSERT_EQ(pk_group_suspend(g), PK_OK) << "a second suspend is a no-op";
    Sleep(100); // a write in flight at the suspension lands
    unsigned long frozen = ReadBeat(beat);
    Sleep(400);
    EXPECT_EQ(ReadBeat(beat), frozen) << "the heartbeat went on while suspended";
    Spawned refused;
    EXPECT_EQ(Spawn(g, {"sleep", "1"}, &refused), PK_ERR_STATE);

    ASSERT_EQ(pk_group_resume(g), PK_OK) << pk_last_error();
    unsigned long after = frozen;
    for (int i = 0; i < 500 && (after = ReadBeat(beat)) <= frozen + 2; i++)
        Sleep(10);
    EXPECT_GT(after, frozen + 2) << "the heartbeat did not resume";
    pk_child_free(s.child);
    EXPECT_EQ(pk_group_free(g), PK_OK);
    EXPECT_TRUE(WaitDead(s.self, 10000));
    DeleteFileA(beat.c_str());
}

TEST(JobGroup, SuspendLeavesAThreadSuspendedBySomeoneElseSuspended)
{
    // Counts nest: our resume undoes our suspension only.
    pk_group *g = NewGroup();
    std::string beat = pkwin::TempPath("heartbeat");
    Spawned s;
    ASSERT_EQ(Spawn(g, {"heartbeat", beat}, &s), PK_OK) << pk_last_error();
    for (int i = 0; i < 500 && ReadBeat(beat) < 3; i++)
        Sleep(10);
    ASSERT_EQ(pk_group_suspend(g), PK_OK);
    // Someone else suspends the process's threads too.
    std::vector<HANDLE> theirs;
    HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
    THREADENTRY32 e;
    e.dwSize = sizeof e;
    for (BOOL ok = Thread32First(snap, &e); ok; ok = Thread32Next(snap, &e))
        if (e.th32OwnerProcessID == (DWORD)s.self.pid) {
            HANDLE t = OpenThread(THREAD_SUSPEND_RESUME, FALSE, e.th32ThreadID);
            if (t && SuspendThread(t) != (DWORD)-1)
                theirs.push_back(t);
        }
    CloseHandle(snap);
    ASSERT_FALSE(theirs.empty());
    ASSERT_EQ(pk_group_resume(g), PK_OK);
    unsigned long frozen = ReadBeat(beat);
    Sleep(300);
    EXPECT_EQ(ReadBeat(beat), frozen) << "our resume undid someone else's suspension";
    for (HANDLE t : theirs) {
        ResumeThread(t);
        CloseHandle(t);
    }
    unsigned long after = frozen;
    for (int i = 0; i < 500 && (after = ReadBeat(beat)) <= frozen + 2; i++)
        Sleep(10);
    EXPECT_GT(after, frozen + 2);
    pk_child_free(s.child);
    EXPECT_EQ(pk_group_free(g), PK_OK);
    DeleteFileA(beat.c_str());
}

TEST(JobGroup, SignalsOtherThanKillAreUnsupported)
{
    pk_group *g = NewGroup();
    Spawned s;
    ASSERT_EQ(Spawn(g, {"sleep", "600000"}, &s), PK_OK) << pk_last_error();
    EXPECT_EQ(pk_group_signal(g, 15), PK_ERR_UNSUPPORTED);
    EXPECT_NE(std::string(pk_last_error()).find("SIGKILL"), std::string::npos) << pk_last_error();
    EXPECT_EQ(pk_child_signal(s.child, 2), PK_ERR_UNSUPPORTED);
    EXPECT_TRUE(Alive(s.self));
    int fd = -1;
    EXPECT_EQ(pk_child_pollfd(s.child, &fd), PK_ERR_UNSUPPORTED);

    EXPECT_EQ(pk_group_signal(g, 9), PK_OK); // SIGKILL is the kill
    pk_exit_status st = PK_EXIT_STATUS_INIT;
    EXPECT_EQ(pk_child_wait(s.child, 10000, &st), PK_OK) << pk_last_error();
    EXPECT_EQ(st.code, 1);
    pk_child_free(s.child);
    EXPECT_EQ(pk_group_free(g), PK_OK);
}

TEST(JobGroup, ChildKillAndWait)
{
    pk_group *g = NewGroup();
    Spawned s;
    ASSERT_EQ(Spawn(g, {"exit", "42"}, &s), PK_OK) << pk_last_error();
    pk_exit_status st = PK_EXIT_STATUS_INIT;
    ASSERT_EQ(pk_child_wait(s.child, 10000, &st), PK_OK) << pk_last_error();
    EXPECT_EQ(st.kind, PK_EXIT_CODE);
    EXPECT_EQ(st.code, 42);
    EXPECT_EQ(pk_child_signal(s.child, 9), PK_ERR_NO_PROCESS);
    pk_child_free(s.child);

    Spawned t;
    ASSERT_EQ(Spawn(g, {"sleep", "600000"}, &t), PK_OK);
    EXPECT_EQ(pk_child_wait(t.child, 50, &st), PK_ERR_TIMEOUT);
    EXPECT_EQ(pk_child_signal(t.child, 9), PK_OK);
    EXPECT_EQ(pk_child_wait(t.child, 10000, &st), PK_OK);
    pk_child_free(t.child);
    EXPECT_EQ(pk_group_free(g), PK_OK);
}

TEST(JobGroup, SpawnErrorsLeaveNothingRunning)
{
    pk_group *g = NewGroup();
    const char *missing[] = {"no-such-program-pk", nullptr};
    pk_spawn_options o = PK_SPAWN_OPTIONS_INIT;
    o.argv = missing;
    pk_child *c = nullptr;
    EXPECT_EQ(pk_group_spawn(g, &o, &c), PK_ERR_NOT_FOUND) << pk_last_error();
    const char *quoted[] = {"bad\"name", nullptr};
    o.argv = quoted;
    EXPECT_EQ(pk_group_spawn(g, &o, &c), PK_ERR_INVALID);
    size_t count = 99;
    EXPECT_EQ(pk_group_members(g, nullptr, 0, &count), PK_OK);
    EXPECT_EQ(count, 0u);
    EXPECT_EQ(pk_group_free(g), PK_OK);
}

TEST(JobGroup, AdoptTakesAChildAndRefusesStrangers)
{
    pk_group *g = NewGroup();
    std::string cmd = "\"" + pkwin::TestChild() + "\" sleep 600000";
    std::vector<char> line(cmd.begin(), cmd.end());
    line.push_back('\0');
    STARTUPINFOA si = {};
    si.cb = sizeof si;
    PROCESS_INFORMATION pi;
    ASSERT_TRUE(CreateProcessA(nullptr, line.data(), nullptr, nullptr, FALSE, 0, nullptr, nullptr, &si, &pi));
    Identity adopted = Identify(pi.dwProcessId);
    EXPECT_EQ(pk_group_adopt(g, (int32_t)pi.dwProcessId), PK_OK) << pk_last_error();
    size_t count = 0;
    EXPECT_EQ(pk_group_members(g, nullptr, 0, &count), PK_OK);
    EXPECT_EQ(count, 1u);

    EXPECT_EQ(pk_group_adopt(g, (int32_t)GetCurrentProcessId()), PK_ERR_INVALID);
    // The test's parent is no child of the test.
    EXPECT_EQ(pk_group_adopt(g, 4), PK_ERR_NO_PROCESS) << pk_last_error();

    EXPECT_EQ(pk_group_free(g), PK_OK);
    EXPECT_TRUE(WaitDead(adopted, 10000));
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
}

TEST(JobGroup, WorksInsideAJobTheCallerAlreadyRunsIn)
{
    HANDLE outer = CreateJobObjectW(nullptr, nullptr);
    ASSERT_NE(outer, nullptr);
    if (!AssignProcessToJobObject(outer, GetCurrentProcess())) {
        DWORD err = GetLastError();
        CloseHandle(outer);
        GTEST_SKIP() << "cannot put the test process in a job here (error " << err << ")";
    }
    pk_group *g = NewGroup();
    Spawned s;
    int rc = Spawn(g, {"grandchild", "sleep", "600000"}, &s, true);
    if (rc != PK_OK) {
        std::string why = pk_last_error();
        pk_group_free(g);
        CloseHandle(outer);
        GTEST_SKIP() << "wine 8 has no nested jobs (Windows 8+ does): " << why;
    }
    Identity grandchild = Identify((DWORD)strtoul(s.first_line.c_str(), nullptr, 10));
    EXPECT_TRUE(Alive(grandchild));
    EXPECT_EQ(pk_group_free(g), PK_OK);
    EXPECT_TRUE(WaitDead(s.self, 10000));
    EXPECT_TRUE(WaitDead(grandchild, 10000));
    pk_child_free(s.child);
    CloseHandle(outer); // no kill-on-close on the outer job: the test lives on
}

TEST(JobGroup, LimitsAreSetOrRefusedWithLimitError)
{
    pk_group_options o = PK_GROUP_OPTIONS_INIT;
    o.memory_max = 256u << 20;
    o.pids_max = 8;
    pk_group *g = nullptr;
    EXPECT_EQ(pk_group_create(&o, &g), PK_OK) << pk_last_error();
    if (g)
        EXPECT_EQ(pk_group_free(g), PK_OK);

    o = PK_GROUP_OPTIONS_INIT;
    o.cpu_max = 0.5;
    g = nullptr;
    int rc = pk_group_create(&o, &g);
    if (rc == PK_ERR_LIMIT)
        GTEST_SKIP() << "wine refuses CPU rate control on jobs: " << pk_last_error();
    EXPECT_EQ(rc, PK_OK) << pk_last_error();
    if (g)
        EXPECT_EQ(pk_group_free(g), PK_OK);
}

TEST(JobGroup, MemoryLimitRefusesACommitPastIt)
{
    pk_group_options o = PK_GROUP_OPTIONS_INIT;
    o.memory_max = 64u << 20;
    pk_group *g = NewGroup(&o);
    Spawned s;
    ASSERT_EQ(Spawn(g, {"commit", "256", "sleep", "600000"}, &s, true), PK_OK) << pk_last_error();
    if (s.first_line == "committed") {
        pk_child_free(s.child);
        pk_group_free(g);
        GTEST_SKIP() << "wine does not enforce JOB_OBJECT_LIMIT_JOB_MEMORY (Windows refuses a commit past the "
                        "job's limit)";
    }
    EXPECT_EQ(s.first_line, "refused");
    pk_child_free(s.child);
    EXPECT_EQ(pk_group_free(g), PK_OK);
}

TEST(JobGroup, GracefulShutdownIsTheAtomicKill)
{
    pk_group *g = NewGroup();
    Spawned s;
    ASSERT_EQ(Spawn(g, {"grandchild", "sleep", "600000"}, &s, true), PK_OK) << pk_last_error();
    Identity grandchild = Identify((DWORD)strtoul(s.first_line.c_str(), nullptr, 10));
    pk_shutdown_options so = PK_SHUTDOWN_OPTIONS_INIT; // SIGTERM, 2 s grace
    so.grace_ms = 30000;
    pk_shutdown_report rep = PK_SHUTDOWN_REPORT_INIT;
    DWORD t0 = GetTickCount();
    EXPECT_EQ(pk_group_shutdown(g, &so, &rep), PK_OK) << pk_last_error();
    EXPECT_LT(GetTickCount() - t0, 20000u) << "waited out the grace instead of killing";
    EXPECT_EQ(rep.members_before, 2u);
    EXPECT_EQ(rep.members_after, 0u);
    EXPECT_TRUE(rep.drained);
    EXPECT_FALSE(rep.escalated);
    EXPECT_TRUE(WaitDead(s.self, 10000));
    EXPECT_TRUE(WaitDead(grandchild, 10000));
    pk_child_free(s.child);
    EXPECT_EQ(pk_group_free(g), PK_OK);
}

} // namespace
