// No API signals a recycled pid.
//
// Each PidReuse.X test (the "outer" side) runs Inner.X in a private PID
// namespace of its own: it forks a helper that moves itself into a fresh
// holder cgroup, unshares CLONE_NEWPID | CLONE_NEWNS and forks again; that
// grandchild is pid 1 of the new namespace, mounts a private /proc and
// re-executes this binary with PK_PIDNS_INNER=1 and --gtest_filter=Inner.X.
// Inside, pid 1 forces pid recycling by writing N-1 to
// /proc/sys/kernel/ns_last_pid, so the next fork gets pid N: a process the
// library spawned and reaped has its pid taken by an unrelated victim
// (`sleep 60`, plain fork/exec outside any group), and the test checks that
// the old handles and groups never reach the victim.
//
// Cleanup does not depend on the inner test behaving: both forks carry
// PR_SET_PDEATHSIG(SIGKILL), and the outer side kills the helper on timeout
// (which kills pid 1, and with it the whole namespace) and then writes
// cgroup.kill in the holder cgroup, waits for it to empty, removes whatever
// leaves are left below it and the holder itself, and removes the temporary
// directory it gave the inner side. The namespace's pid 1 reaps every orphan
// and every victim it made.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "processkit.h"
#include "tests/support/proc_util.h"
#include "tests/stress/stress_util.h"

extern char** environ;

namespace {

using pkstress::Clock;

constexpr const char* kInnerEnv = "PK_PIDNS_INNER";
constexpr int kNamespaceTimeoutMs = 60000;
constexpr int kLongMs = 5000;

bool IsInner() {
    return getenv(kInnerEnv) != nullptr;
}

std::string ReadText(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

bool WriteText(const std::string& path, const std::string& text) {
    int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    close(fd);
    return ok;
}

// ===========================================================================
// Outer side: one fresh PID namespace per scenario.

// The cgroup directory this process is in ("" without cgroup v2).
std::string OwnCgroupDir() {
    std::string mount = pktest::CgroupMount();
    if (mount.empty())
        return "";
    std::ifstream in("/proc/self/cgroup");
    std::string line, rel = "/";
    while (std::getline(in, line))
        if (line.rfind("0::", 0) == 0)
            rel = line.substr(3);
    return mount + (rel == "/" ? "" : rel);
}

bool Populated(const std::string& cgdir) {
    std::string ev = ReadText(cgdir + "/cgroup.events");
    return ev.find("populated 0") == std::string::npos;
}

// Kills and removes a holder cgroup and everything below it (deepest first).
void RemoveCgroupTree(const std::string& dir) {
    WriteText(dir + "/cgroup.kill", "1");
    auto end = Clock::now() + std::chrono::milliseconds(kLongMs);
    while (Populated(dir) && Clock::now() < end)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (DIR* d = opendir(dir.c_str())) {
        std::vector<std::string> subs;
        while (struct dirent* e = readdir(d))
            if (e->d_type == DT_DIR && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                subs.push_back(dir + "/" + e->d_name);
        closedir(d);
        for (const std::string& s : subs)
            RemoveCgroupTree(s);
    }
    rmdir(dir.c_str());
}

std::vector<std::string> SubDirs(const std::string& dir) {
    std::vector<std::string> out;
    if (DIR* d = opendir(dir.c_str())) {
        while (struct dirent* e = readdir(d))
            if (e->d_type == DT_DIR && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                out.push_back(e->d_name);
        closedir(d);
    }
    return out;
}

// The parent pid of pid (from /proc/PID/stat), or -1.
pid_t ParentOf(pid_t pid) {
    std::string text = ReadText("/proc/" + std::to_string(pid) + "/stat");
    size_t close_paren = text.rfind(')');
    char state;
    int ppid;
    if (close_paren == std::string::npos || sscanf(text.c_str() + close_paren + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return ppid;
}

// Runs Inner.<name> as pid 1 of a new PID namespace and reports its result.
void RunInPidNamespace(const std::string& name) {
    if (geteuid() != 0)
        GTEST_SKIP() << "creating a PID namespace needs root";
    ASSERT_TRUE(pkstress::BecomeSubreaper());
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ASSERT_GT(n, 0);
    exe[n] = '\0';

    static int serial = 0;
    const std::string own = OwnCgroupDir();
    ASSERT_FALSE(own.empty()) << "no cgroup v2 here";
    const std::string holder = own + "/pktest-pidns-" + std::to_string(getpid()) + "-" + std::to_string(serial++);
    ASSERT_EQ(0, mkdir(holder.c_str(), 0755)) << "mkdir " << holder << ": " << strerror(errno);

    // The inner side's temporary files go below a directory we own and
    // remove, even if it is killed.
    pktest::TempDir inner_tmp;
    ASSERT_FALSE(inner_tmp.path().empty());

    // Everything exec needs is built before the fork.
    std::vector<std::string> env_store;
    static const char* const kDrop[] = {"GTEST_OUTPUT=", "XML_OUTPUT_FILE=", "TEST_PREMATURE_EXIT_FILE=",
                                        "GTEST_SHARD_", "TEST_SHARD_", "TEST_TOTAL_SHARDS=", "GTEST_TOTAL_SHARDS=",
                                        "TESTBRIDGE_TEST_ONLY=", "GTEST_FILTER=", "PK_PIDNS_INNER=",
                                        "TEST_TMPDIR="};
    for (char** e = environ; *e; e++) {
        bool drop = false;
        for (const char* p : kDrop)
            drop = drop || strncmp(*e, p, strlen(p)) == 0;
        if (!drop)
            env_store.push_back(*e);
    }
    env_store.push_back(std::string(kInnerEnv) + "=1");
    env_store.push_back("TEST_TMPDIR=" + inner_tmp.path());
    std::vector<char*> envp;
    for (std::string& s : env_store)
        envp.push_back(&s[0]);
    envp.push_back(nullptr);
    std::string filter = "--gtest_filter=Inner." + name;
    char* argv[] = {exe, &filter[0], nullptr};
    const std::string procs = holder + "/cgroup.procs";
    const pid_t outer = getpid();

    // The helper tells us pid 1's pid (as we see it), so a stuck namespace is
    // killed at its init and the helper still reaps it.
    int init_pipe[2];
    ASSERT_EQ(0, pipe2(init_pipe, O_CLOEXEC)) << strerror(errno);
    pid_t helper = fork();
    if (helper < 0) {
        close(init_pipe[0]);
        close(init_pipe[1]);
        FAIL() << "fork: " << strerror(errno);
    }
    if (helper == 0) {
        // The helper: raw calls only until exec or _exit.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != outer)
            _exit(91);
        int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1)
            _exit(92);
        close(fd);
        if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0)
            _exit(93);
        pid_t init = fork();
        if (init < 0)
            _exit(94);
        if (init > 0)
            (void)!write(init_pipe[1], &init, sizeof init);
        if (init == 0) {
            // pid 1 of the new namespace.
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
                _exit(95);
            if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
                _exit(96);
            execve(exe, argv, envp.data());
            _exit(97);
        }
        int st;
        while (waitpid(init, &st, 0) < 0)
            if (errno != EINTR)
                _exit(98);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    }

    close(init_pipe[1]);
    pid_t init = 0;
    if (read(init_pipe[0], &init, sizeof init) != static_cast<ssize_t>(sizeof init))
        init = 0;  // the helper failed before forking it; its exit code says where
    close(init_pipe[0]);
    // Pin pid 1 with a pidfd, and prove it is the helper's child (so not a
    // recycled pid) before ever signalling it.
    int init_fd = init > 0 ? static_cast<int>(syscall(SYS_pidfd_open, init, 0)) : -1;
    if (init_fd >= 0 && ParentOf(init) != helper) {
        close(init_fd);
        init_fd = -1;
    }

    int status = 0;
    bool ended = false;
    auto end = Clock::now() + std::chrono::milliseconds(kNamespaceTimeoutMs);
    while (Clock::now() < end) {
        pid_t r = waitpid(helper, &status, WNOHANG);
        if (r == helper) {
            ended = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!ended) {
        // Killing pid 1 kills everything else in the namespace (the kernel
        // does it); the helper then reaps pid 1 and exits. Should the helper
        // not, killing it kills pid 1 too (its parent-death signal), and pid 1
        // comes back to us as its subreaper.
        if (init_fd >= 0)
            syscall(SYS_pidfd_send_signal, init_fd, SIGKILL, nullptr, 0);
        auto kill_end = Clock::now() + std::chrono::milliseconds(kLongMs);
        while (waitpid(helper, &status, WNOHANG) != helper) {
            if (Clock::now() >= kill_end) {
                kill(helper, SIGKILL);
                while (waitpid(helper, &status, 0) < 0 && errno == EINTR) {
                }
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    // pid 1 reparented to us (only if the helper died first): reap it.
    auto reap_end = Clock::now() + std::chrono::milliseconds(kLongMs);
    for (;;) {
        int st;
        pid_t r = waitpid(-1, &st, WNOHANG | __WALL);
        if (r < 0 && errno == ECHILD)
            break;
        if (r == 0) {
            if (Clock::now() >= reap_end)
                break;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    if (init_fd >= 0)
        close(init_fd);
    // Whatever the namespace left: the holder holds it all.
    const std::vector<std::string> leftover = SubDirs(holder);
    const bool populated = Populated(holder);
    RemoveCgroupTree(holder);
    struct stat st;
    EXPECT_NE(0, stat(holder.c_str(), &st)) << "could not remove " << holder;

    ASSERT_TRUE(ended) << "Inner." << name << " did not finish within " << kNamespaceTimeoutMs
                       << " ms; its namespace was killed";
    ASSERT_TRUE(WIFEXITED(status)) << "the namespace helper died by signal " << WTERMSIG(status);
    const int code = WEXITSTATUS(status);
    EXPECT_TRUE(code < 91 || code > 98) << "setting up the namespace failed at step " << code
                                        << " (91 parent, 92 cgroup move, 93 unshare, 94 fork, 95 private /,"
                                        << " 96 mount /proc, 97 exec, 98 wait)";
    EXPECT_EQ(0, code) << "Inner." << name << " failed inside its PID namespace (see its output above)";
    EXPECT_FALSE(populated) << "processes of the namespace outlived its pid 1";
    EXPECT_TRUE(leftover.empty()) << "the namespace left cgroup " << holder << "/" << leftover[0];
}

TEST(PidReuse, ChildSignalAfterChildWait) { RunInPidNamespace("ChildSignalAfterChildWait"); }
TEST(PidReuse, ChildSignalAfterInternalReap) { RunInPidNamespace("ChildSignalAfterInternalReap"); }
TEST(PidReuse, ProcessGroupLeaderPrunedByMembers) { RunInPidNamespace("ProcessGroupLeaderPrunedByMembers"); }
TEST(PidReuse, ProcessGroupLeaderReapedByChildWait) { RunInPidNamespace("ProcessGroupLeaderReapedByChildWait"); }
TEST(PidReuse, ProcessGroupLeaderReapedByStats) { RunInPidNamespace("ProcessGroupLeaderReapedByStats"); }
TEST(PidReuse, ProcessGroupRunReapedByLoop) { RunInPidNamespace("ProcessGroupRunReapedByLoop"); }
TEST(PidReuse, CgroupRecycledDirectMember) { RunInPidNamespace("CgroupRecycledDirectMember"); }
TEST(PidReuse, CgroupRecycledGrandchildMember) { RunInPidNamespace("CgroupRecycledGrandchildMember"); }
TEST(PidReuse, RunProcessAfterFinish) { RunInPidNamespace("RunProcessAfterFinish"); }

// ===========================================================================
// Inner side: pid 1 of a private PID namespace.

enum class VictimKind { kPlain, kSetsid, kSetpgid };

class Inner : public testing::Test {
  protected:
    std::vector<pk_group*> groups_;
    std::vector<pk_child*> children_;
    std::vector<pid_t> victims_;  // our unreaped children: their pids cannot be recycled
    pktest::TempDir tmp_;

    void SetUp() override {
        if (!IsInner())
            GTEST_SKIP() << "runs only as pid 1 of the namespace a PidReuse test creates";
        ASSERT_EQ(1, getpid()) << "not pid 1 of a PID namespace";
    }

    void TearDown() override {
        if (!IsInner())
            return;
        for (pk_group* g : groups_)
            pk_group_free(g);
        for (pk_child* ch : children_) {
            pk_child_signal(ch, SIGKILL);
            pk_child_wait(ch, kLongMs, nullptr);
            pk_child_free(ch);
        }
        for (pid_t v : victims_) {
            kill(v, SIGKILL);
            int st;
            while (waitpid(v, &st, 0) < 0 && errno == EINTR) {
            }
        }
        std::vector<pid_t> live = pkstress::LiveChildrenAfter(kLongMs);  // reaps orphans too
        EXPECT_TRUE(live.empty()) << live.size() << " process(es) left in the namespace";
        EXPECT_TRUE(pktest::OurCgroupLeaves().empty()) << "cgroup leaves left behind";
    }

    pk_group* NewGroup(int backend) {
        pk_group_options o = PK_GROUP_OPTIONS_INIT;
        o.backend = backend;
        pk_group* g = nullptr;
        int rc = pk_group_create(&o, &g);
        EXPECT_EQ(PK_OK, rc) << pk_last_error();
        if (rc == PK_OK)
            groups_.push_back(g);
        return rc == PK_OK ? g : nullptr;
    }

    int FreeGroup(pk_group* g) {
        groups_.erase(std::remove(groups_.begin(), groups_.end(), g), groups_.end());
        return pk_group_free(g);
    }

    pk_child* Spawn(pk_group* g, const std::vector<std::string>& args) {
        std::vector<const char*> argv;
        for (const std::string& a : args)
            argv.push_back(a.c_str());
        argv.push_back(nullptr);
        pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
        so.argv = argv.data();
        so.stdin_fd = PK_STDIO_NULL;
        pk_child* ch = nullptr;
        int rc = pk_group_spawn(g, &so, &ch);
        EXPECT_EQ(PK_OK, rc) << pk_last_error();
        if (rc == PK_OK)
            children_.push_back(ch);
        return rc == PK_OK ? ch : nullptr;
    }

    static pid_t PidOf(pk_child* ch) {
        int32_t pid = 0;
        EXPECT_EQ(PK_OK, pk_child_pid(ch, &pid)) << pk_last_error();
        return pid;
    }

    // Waits until the child has exited (its pollfd is readable), not reaping it.
    static bool WaitExited(pk_child* ch) {
        int fd = -1;
        if (pk_child_pollfd(ch, &fd) != PK_OK)
            return false;
        struct pollfd p = {fd, POLLIN, 0};
        return poll(&p, 1, kLongMs) == 1;
    }

    static bool PidExists(pid_t pid) {
        struct stat st;
        return stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0;
    }

    // Forks an unrelated `sleep 60` that gets pid `want` (via ns_last_pid).
    // Returns once it has exec'd, so a setsid/setpgid it makes is done.
    pid_t ForkVictimAt(pid_t want, VictimKind kind) {
        EXPECT_FALSE(PidExists(want)) << "pid " << want << " is not free";
        int ready[2];
        if (pipe2(ready, O_CLOEXEC) != 0) {
            ADD_FAILURE() << "pipe2: " << strerror(errno);
            return -1;
        }
        if (!WriteText("/proc/sys/kernel/ns_last_pid", std::to_string(want - 1))) {
            ADD_FAILURE() << "writing ns_last_pid: " << strerror(errno);
            close(ready[0]);
            close(ready[1]);
            return -1;
        }
        pid_t pid = fork();
        if (pid == 0) {
            if (kind == VictimKind::kSetsid)
                setsid();
            else if (kind == VictimKind::kSetpgid)
                setpgid(0, 0);
            execlp("sleep", "sleep", "60", static_cast<char*>(nullptr));
            _exit(127);
        }
        close(ready[1]);
        if (pid < 0) {
            close(ready[0]);
            ADD_FAILURE() << "fork: " << strerror(errno);
            return -1;
        }
        victims_.push_back(pid);
        char c;
        while (read(ready[0], &c, 1) < 0 && errno == EINTR) {
        }
        close(ready[0]);
        EXPECT_EQ(want, pid) << "ns_last_pid did not hand out the recycled pid";
        if (kind != VictimKind::kPlain) {
            EXPECT_EQ(pid, getpgid(pid)) << "the victim does not lead its own process group";
        }
        return pid;
    }

    // "alive", or how the victim died (and it is reaped then).
    std::string VictimFate(pid_t v) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let a signal land
        int st;
        pid_t r = waitpid(v, &st, WNOHANG);
        if (r == 0)
            return "alive";
        victims_.erase(std::remove(victims_.begin(), victims_.end(), v), victims_.end());
        if (r == v && WIFSIGNALED(st))
            return "killed by signal " + std::to_string(WTERMSIG(st)) + " (" + strsignal(WTERMSIG(st)) + ")";
        if (r == v)
            return "exited with " + std::to_string(WEXITSTATUS(st));
        return std::string("waitpid failed: ") + strerror(errno);
    }

    void KillVictim(pid_t v) {
        kill(v, SIGKILL);
        int st;
        while (waitpid(v, &st, 0) < 0 && errno == EINTR) {
        }
        victims_.erase(std::remove(victims_.begin(), victims_.end(), v), victims_.end());
    }

    // A process-group leader spawned by the library, exited and reaped by
    // `reap`, whose pid then goes to an unrelated process-group leader; `hit`
    // (pk_group_kill or pk_group_signal) must not reach it.
    void RecycledLeaderCase(const char* how, const std::function<void(pk_group*, pk_child*)>& reap) {
        struct Api {
            const char* name;
            VictimKind victim;
            std::function<int(pk_group*)> call;
        };
        const Api apis[] = {
            {"pk_group_kill", VictimKind::kSetsid, [](pk_group* g) { return pk_group_kill(g); }},
            {"pk_group_signal(SIGTERM)", VictimKind::kSetpgid, [](pk_group* g) { return pk_group_signal(g, SIGTERM); }},
            {"pk_group_signal(SIGKILL)", VictimKind::kSetsid, [](pk_group* g) { return pk_group_signal(g, SIGKILL); }},
            {"pk_group_shutdown", VictimKind::kSetpgid,
             [](pk_group* g) {
                 pk_shutdown_options o = PK_SHUTDOWN_OPTIONS_INIT;
                 o.grace_ms = 100;
                 return pk_group_shutdown(g, &o, nullptr);
             }},
            {"pk_group_free", VictimKind::kSetsid, nullptr},
        };
        for (const Api& api : apis) {
            SCOPED_TRACE(std::string("leader reaped by ") + how + ", then " + api.name);
            pk_group* g = NewGroup(PK_BACKEND_PROCESS_GROUP);
            ASSERT_NE(nullptr, g);
            pk_child* leader = Spawn(g, {"true"});
            ASSERT_NE(nullptr, leader);
            const pid_t pid = PidOf(leader);
            ASSERT_TRUE(WaitExited(leader));
            reap(g, leader);
            ASSERT_FALSE(PidExists(pid)) << "the leader " << pid << " was not reaped by " << how;
            pid_t v = ForkVictimAt(pid, api.victim);
            ASSERT_EQ(pid, v);
            int rc = api.call ? api.call(g) : FreeGroup(g);
            EXPECT_EQ(PK_OK, rc) << pk_last_error();
            EXPECT_EQ("alive", VictimFate(v))
                << api.name << " reached pid " << pid << ", recycled by an unrelated process-group leader";
            if (api.call) {
                EXPECT_EQ(PK_OK, FreeGroup(g)) << pk_last_error();
            }
            KillVictim(v);
        }
    }
};

// (a) A child spawned into a group and reaped with pk_child_wait: its pid goes
// to an unrelated process, and the old handle must not reach it. Both backends.
TEST_F(Inner, ChildSignalAfterChildWait) {
    for (int backend : {static_cast<int>(PK_BACKEND_CGROUP_V2), static_cast<int>(PK_BACKEND_PROCESS_GROUP)}) {
        SCOPED_TRACE(backend == PK_BACKEND_CGROUP_V2 ? "cgroup v2" : "process group");
        pk_group* g = NewGroup(backend);
        ASSERT_NE(nullptr, g);
        pk_child* ch = Spawn(g, {"true"});
        ASSERT_NE(nullptr, ch);
        const pid_t pid = PidOf(ch);
        pk_exit_status st = PK_EXIT_STATUS_INIT;
        ASSERT_EQ(PK_OK, pk_child_wait(ch, kLongMs, &st)) << pk_last_error();
        ASSERT_EQ(PK_EXIT_CODE, st.kind);
        pid_t v = ForkVictimAt(pid, VictimKind::kPlain);
        ASSERT_EQ(pid, v);

        EXPECT_EQ(PK_ERR_NO_PROCESS, pk_child_signal(ch, SIGKILL));
        EXPECT_EQ(PK_ERR_NO_PROCESS, pk_child_signal(ch, SIGTERM));
        pk_exit_status again = PK_EXIT_STATUS_INIT;
        EXPECT_EQ(PK_OK, pk_child_wait(ch, 0, &again)) << pk_last_error();
        EXPECT_EQ(PK_EXIT_CODE, again.kind);
        EXPECT_EQ(0, again.code);
        EXPECT_EQ("alive", VictimFate(v)) << "pk_child_signal reached the recycled pid " << pid;

        // Nor do the group's own calls (the victim leads no process group).
        EXPECT_EQ(PK_OK, pk_group_signal(g, SIGTERM)) << pk_last_error();
        EXPECT_EQ(PK_OK, pk_group_kill(g)) << pk_last_error();
        EXPECT_EQ(PK_OK, FreeGroup(g)) << pk_last_error();
        EXPECT_EQ("alive", VictimFate(v)) << "a group call reached the recycled pid " << pid;
        KillVictim(v);
    }
}

// (a') The same when the library reaped the child itself (pk_group_stats_get
// reaps exited direct children), not the caller.
TEST_F(Inner, ChildSignalAfterInternalReap) {
    for (int backend : {static_cast<int>(PK_BACKEND_CGROUP_V2), static_cast<int>(PK_BACKEND_PROCESS_GROUP)}) {
        SCOPED_TRACE(backend == PK_BACKEND_CGROUP_V2 ? "cgroup v2" : "process group");
        pk_group* g = NewGroup(backend);
        ASSERT_NE(nullptr, g);
        pk_child* ch = Spawn(g, {"sleep", "60"});
        ASSERT_NE(nullptr, ch);
        const pid_t pid = PidOf(ch);
        ASSERT_EQ(PK_OK, pk_child_signal(ch, SIGKILL)) << pk_last_error();
        ASSERT_TRUE(WaitExited(ch));
        pk_group_stats stats = PK_GROUP_STATS_INIT;
        ASSERT_EQ(PK_OK, pk_group_stats_get(g, &stats)) << pk_last_error();
        ASSERT_FALSE(PidExists(pid)) << "pk_group_stats_get did not reap the exited child";
        pid_t v = ForkVictimAt(pid, VictimKind::kPlain);
        ASSERT_EQ(pid, v);

        EXPECT_EQ(PK_ERR_NO_PROCESS, pk_child_signal(ch, SIGKILL));
        pk_exit_status st = PK_EXIT_STATUS_INIT;
        EXPECT_EQ(PK_OK, pk_child_wait(ch, 0, &st)) << pk_last_error();
        EXPECT_EQ(PK_EXIT_SIGNAL, st.kind);
        EXPECT_EQ(SIGKILL, st.signal);
        EXPECT_EQ(PK_OK, FreeGroup(g)) << pk_last_error();
        EXPECT_EQ("alive", VictimFate(v)) << "the recycled pid " << pid << " was signalled";
        KillVictim(v);
    }
}

// (b) Process-group backend, the documented promise: a leader reaped by the
// library is pruned, so a later kill does not reach its recycled pid, even
// when the new owner of the pid leads a process group of its own (so
// killpg(pid) would reach it). pk_group_members reaps and prunes at once.
TEST_F(Inner, ProcessGroupLeaderPrunedByMembers) {
    RecycledLeaderCase("pk_group_members", [](pk_group* g, pk_child*) {
        int32_t pids[8];
        size_t n = 99;
        EXPECT_EQ(PK_OK, pk_group_members(g, pids, 8, &n)) << pk_last_error();
        EXPECT_EQ(0u, n) << "the reaped leader is still listed";
    });
}

// (b) The same leader reaped by the caller's pk_child_wait.
TEST_F(Inner, ProcessGroupLeaderReapedByChildWait) {
    RecycledLeaderCase("pk_child_wait", [](pk_group*, pk_child* leader) {
        pk_exit_status st = PK_EXIT_STATUS_INIT;
        EXPECT_EQ(PK_OK, pk_child_wait(leader, kLongMs, &st)) << pk_last_error();
        EXPECT_EQ(PK_EXIT_CODE, st.kind);
    });
}

// (b) The same leader reaped inside the library by pk_group_stats_get.
TEST_F(Inner, ProcessGroupLeaderReapedByStats) {
    RecycledLeaderCase("pk_group_stats_get", [](pk_group* g, pk_child*) {
        pk_group_stats st = PK_GROUP_STATS_INIT;
        EXPECT_EQ(PK_OK, pk_group_stats_get(g, &st)) << pk_last_error();
    });
}

// (b) The same through the run API: a run started in a shared process group
// and finished (the loop reaps its process); the group is killed later.
TEST_F(Inner, ProcessGroupRunReapedByLoop) {
    pk_loop* loop = nullptr;
    ASSERT_EQ(PK_OK, pk_loop_new(&loop)) << pk_last_error();
    pk_command* cmd = nullptr;
    ASSERT_EQ(PK_OK, pk_command_new("true", &cmd)) << pk_last_error();
    for (bool free_instead_of_kill : {false, true}) {
        SCOPED_TRACE(free_instead_of_kill ? "then pk_group_free" : "then pk_group_kill");
        pk_group* g = NewGroup(PK_BACKEND_PROCESS_GROUP);
        ASSERT_NE(nullptr, g);
        pk_process* proc = nullptr;
        ASSERT_EQ(PK_OK, pk_loop_start(loop, cmd, g, &proc)) << pk_last_error();
        ASSERT_EQ(PK_OK, pk_loop_wait_all(loop, &proc, 1, kLongMs)) << pk_last_error();
        int32_t pid = 0;
        ASSERT_EQ(PK_OK, pk_process_pid(proc, &pid)) << pk_last_error();
        EXPECT_EQ(PK_OK, pk_process_free(proc));
        ASSERT_FALSE(PidExists(pid)) << "the finished run's process was not reaped";
        pid_t v = ForkVictimAt(pid, VictimKind::kSetsid);
        ASSERT_EQ(pid, v);
        if (!free_instead_of_kill) {
            EXPECT_EQ(PK_OK, pk_group_kill(g)) << pk_last_error();
        }
        EXPECT_EQ(PK_OK, FreeGroup(g)) << pk_last_error();
        EXPECT_EQ("alive", VictimFate(v)) << "the shared group's kill reached the recycled pid " << pid;
        KillVictim(v);
    }
    EXPECT_EQ(PK_OK, pk_command_free(cmd));
    EXPECT_EQ(PK_OK, pk_loop_free(loop));
}

// (c) cgroup v2: a direct member exited and was reaped; its pid goes to a
// process outside the group. Signals go only to verified members.
TEST_F(Inner, CgroupRecycledDirectMember) {
    pk_group* g = NewGroup(PK_BACKEND_CGROUP_V2);
    ASSERT_NE(nullptr, g);
    pk_child* keep = Spawn(g, {"sleep", "60"});  // a member that must get the signals
    ASSERT_NE(nullptr, keep);
    pk_child* ch = Spawn(g, {"true"});
    ASSERT_NE(nullptr, ch);
    const pid_t pid = PidOf(ch);
    ASSERT_EQ(PK_OK, pk_child_wait(ch, kLongMs, nullptr)) << pk_last_error();
    pid_t v = ForkVictimAt(pid, VictimKind::kSetsid);
    ASSERT_EQ(pid, v);

    int32_t pids[16];
    size_t n = 0;
    ASSERT_EQ(PK_OK, pk_group_members(g, pids, 16, &n)) << pk_last_error();
    EXPECT_EQ(1u, n);
    for (size_t i = 0; i < n && i < 16; i++)
        EXPECT_NE(pid, pids[i]) << "the recycled pid is listed as a member";
    EXPECT_EQ(PK_OK, pk_group_signal(g, SIGTERM)) << pk_last_error();
    pk_exit_status st = PK_EXIT_STATUS_INIT;
    EXPECT_EQ(PK_OK, pk_child_wait(keep, kLongMs, &st)) << "the real member did not get SIGTERM";
    EXPECT_EQ(SIGTERM, st.signal);
    EXPECT_EQ("alive", VictimFate(v)) << "pk_group_signal reached the recycled pid " << pid;
    EXPECT_EQ(PK_OK, pk_group_kill(g)) << pk_last_error();
    EXPECT_EQ(PK_OK, FreeGroup(g)) << pk_last_error();
    EXPECT_EQ("alive", VictimFate(v)) << "kill/free reached the recycled pid " << pid;
    KillVictim(v);
}

// (c) cgroup v2: a grandchild member exited and was reaped by its parent
// shell; its pid goes to a process outside the group while the group still
// has a member. pk_group_signal(SIGTERM) reaches the member only.
TEST_F(Inner, CgroupRecycledGrandchildMember) {
    pk_group* g = NewGroup(PK_BACKEND_CGROUP_V2);
    ASSERT_NE(nullptr, g);
    const std::string gc_file = tmp_.File("gc.pid");
    // The grandchild `true` is reaped by the shell's `wait` before it says
    // so; then the shell becomes `sleep 60` (exec: no fork that could take
    // the pid we are about to hand out).
    pk_child* ch = Spawn(g, {"sh", "-c",
                             "true & echo $! > " + gc_file + "; wait; echo reaped >> " + gc_file +
                                 "; exec sleep 60"});
    ASSERT_NE(nullptr, ch);
    auto end = Clock::now() + std::chrono::milliseconds(kLongMs);
    std::string text;
    while ((text = ReadText(gc_file)).find("reaped") == std::string::npos && Clock::now() < end)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ASSERT_NE(std::string::npos, text.find("reaped")) << text;
    const pid_t gc = atoi(text.c_str());
    ASSERT_GT(gc, 0);
    ASSERT_FALSE(PidExists(gc));
    pid_t v = ForkVictimAt(gc, VictimKind::kPlain);
    ASSERT_EQ(gc, v);
    const pid_t sh = PidOf(ch);
    end = Clock::now() + std::chrono::milliseconds(kLongMs);
    while (pkstress::Cmdline(sh) != "sleep 60" && Clock::now() < end)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ASSERT_EQ("sleep 60", pkstress::Cmdline(sh));

    EXPECT_EQ(PK_OK, pk_group_signal(g, SIGTERM)) << pk_last_error();
    pk_exit_status st = PK_EXIT_STATUS_INIT;
    EXPECT_EQ(PK_OK, pk_child_wait(ch, kLongMs, &st)) << "the member did not get SIGTERM";
    EXPECT_EQ(SIGTERM, st.signal);
    EXPECT_EQ("alive", VictimFate(v)) << "pk_group_signal reached the recycled pid " << gc;
    EXPECT_EQ(PK_OK, FreeGroup(g)) << pk_last_error();
    EXPECT_EQ("alive", VictimFate(v));
    KillVictim(v);
}

// The run API: a finished run's pid is recycled; pk_process_signal and
// pk_process_cancel must not reach the new process (private group and a
// shared one).
TEST_F(Inner, RunProcessAfterFinish) {
    pk_loop* loop = nullptr;
    ASSERT_EQ(PK_OK, pk_loop_new(&loop)) << pk_last_error();
    pk_command* cmd = nullptr;
    ASSERT_EQ(PK_OK, pk_command_new("true", &cmd)) << pk_last_error();
    for (int backend : {-1, static_cast<int>(PK_BACKEND_CGROUP_V2), static_cast<int>(PK_BACKEND_PROCESS_GROUP)}) {
        SCOPED_TRACE(backend < 0 ? "private group" : backend == PK_BACKEND_CGROUP_V2 ? "shared cgroup v2 group"
                                                                                     : "shared process group");
        pk_group* g = backend < 0 ? nullptr : NewGroup(backend);
        pk_process* proc = nullptr;
        ASSERT_EQ(PK_OK, pk_loop_start(loop, cmd, g, &proc)) << pk_last_error();
        ASSERT_EQ(PK_OK, pk_loop_wait_all(loop, &proc, 1, kLongMs)) << pk_last_error();
        int32_t pid = 0;
        ASSERT_EQ(PK_OK, pk_process_pid(proc, &pid)) << pk_last_error();
        ASSERT_FALSE(PidExists(pid)) << "the finished run's process was not reaped";
        pid_t v = ForkVictimAt(pid, VictimKind::kPlain);
        ASSERT_EQ(pid, v);
        int rc = pk_process_signal(proc, SIGKILL);
        EXPECT_NE(PK_OK, rc) << "pk_process_signal on a finished run succeeded";
        pk_process_cancel(proc);
        EXPECT_EQ(PK_OK, pk_process_free(proc));
        EXPECT_EQ("alive", VictimFate(v)) << "the run API reached the recycled pid " << pid;
        if (g) {
            EXPECT_EQ(PK_OK, FreeGroup(g)) << pk_last_error();
        }
        EXPECT_EQ("alive", VictimFate(v));
        KillVictim(v);
    }
    EXPECT_EQ(PK_OK, pk_command_free(cmd));
    EXPECT_EQ(PK_OK, pk_loop_free(loop));
}

}  // namespace

int main(int argc, char** argv) {
    testing::InitGoogleTest(&argc, argv);
    if (!IsInner()) {
        // The Inner.* tests run only inside the namespaces PidReuse.* make.
        std::string filter = testing::GTEST_FLAG(filter);
        if (filter == "*")
            filter = "PidReuse.*";
        else
            filter += filter.find('-') == std::string::npos ? "-Inner.*" : ":Inner.*";
        testing::GTEST_FLAG(filter) = filter;
    }
    return RUN_ALL_TESTS();
}
