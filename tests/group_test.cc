// Group behaviour with real processes, on both real Linux backends (cgroup v2
// and process group). Liveness is always judged by pid plus start time
// (pktest::Identify/Alive/WaitDead), and zombies count as dead.
//
// Every test leaves nothing behind: the fixture frees every group it made,
// kills and reaps every child handle, kills every grandchild it learned of
// from a pid file, reaps every external child, and then checks that this
// process has no children and no cgroup leaves left.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "processkit.h"
#include "support/proc_util.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

// Generous bound for anything that should happen "soon". Not a timing goal.
constexpr int kLongMs = 10000;

int64_t MsSince(Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

// Polls cond every 5 ms until it holds or timeout_ms passes.
bool WaitUntil(const std::function<bool()>& cond, int timeout_ms) {
    auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        if (cond())
            return true;
        if (Clock::now() >= end)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

int64_t FileSize(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

bool IsDir(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool PathExists(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0;
}

std::string ReadText(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Every process (live or zombie) whose parent is this process.
std::vector<pid_t> ChildrenOfUs() {
    return pktest::Children();
}

// Whether pid ignores sig (SigIgn in /proc/PID/status).
bool IgnoresSignal(pid_t pid, int sig) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("SigIgn:", 0) == 0) {
            unsigned long long mask = strtoull(line.c_str() + 7, nullptr, 16);
            return (mask >> (sig - 1)) & 1u;
        }
    return false;
}

// Reads from fd until a newline, EOF or the deadline; returns what arrived.
std::string ReadLine(int fd, int timeout_ms) {
    std::string out;
    auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (out.find('\n') == std::string::npos) {
        int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count());
        if (left <= 0)
            break;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, left) <= 0)
            continue;
        char c;
        ssize_t n = read(fd, &c, 1);
        if (n <= 0)
            break;
        out.push_back(c);
    }
    return out;
}

// Reads from fd until EOF or the deadline.
std::string ReadAll(int fd, int timeout_ms, bool* eof) {
    std::string out;
    *eof = false;
    auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count());
        if (left <= 0)
            break;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, left) <= 0)
            continue;
        char buf[512];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0) {
            *eof = true;
            break;
        }
        if (n < 0)
            break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

bool Contains(const std::vector<int32_t>& v, int32_t x) {
    return std::find(v.begin(), v.end(), x) != v.end();
}

// Owns both ends of a pipe; closes whatever is still open.
struct Pipe {
    int r = -1, w = -1;
    // Deliberately without O_CLOEXEC: the library must close extra fds itself.
    bool Open() {
        int fds[2];
        if (pipe(fds) != 0)
            return false;
        r = fds[0];
        w = fds[1];
        return true;
    }
    void CloseWrite() {
        if (w >= 0)
            close(w);
        w = -1;
    }
    ~Pipe() {
        if (r >= 0)
            close(r);
        CloseWrite();
    }
};

// Common helpers and the cleanup every test relies on.
class Fixture : public testing::Test {
  protected:
    int backend_ = PK_BACKEND_AUTO;
    pktest::TempDir tmp_;
    std::vector<pk_group*> groups_;
    std::vector<pk_child*> children_;
    std::vector<pktest::ProcId> strays_;  // grandchildren etc. to kill at the end
    std::vector<pid_t> externals_;        // our own unreaped non-library children

    void TearDown() override {
        for (pk_group* g : groups_)
            EXPECT_EQ(PK_OK, pk_group_free(g)) << "teardown free: " << pk_last_error();
        groups_.clear();
        for (pk_child* ch : children_) {
            pk_child_signal(ch, SIGKILL);  // fails harmlessly once reaped
            pk_exit_status st = PK_EXIT_STATUS_INIT;
            int rc = pk_child_wait(ch, kLongMs, &st);
            EXPECT_TRUE(rc == PK_OK || rc == PK_ERR_NO_PROCESS) << "teardown wait: " << pk_last_error();
            EXPECT_EQ(PK_OK, pk_child_free(ch));
        }
        children_.clear();
        for (const pktest::ProcId& id : strays_)
            pktest::KillIfAlive(id);
        for (const pktest::ProcId& id : strays_)
            EXPECT_TRUE(pktest::WaitDead(id, kLongMs)) << "stray pid " << id.pid << " survived teardown";
        strays_.clear();
        for (pid_t pid : externals_) {
            kill(pid, SIGKILL);  // still our unreaped child: the pid cannot be recycled
            int st;
            while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR) {
            }
        }
        externals_.clear();
        EXPECT_TRUE(pktest::OurCgroupLeaves().empty()) << "cgroup leaves left behind";
        std::vector<pid_t> kids = ChildrenOfUs();
        EXPECT_TRUE(kids.empty()) << kids.size() << " child process(es) left behind, first " << kids[0];
    }

    // A group on this fixture's backend (unless opts names another).
    pk_group* NewGroup(pk_group_options o) {
        pk_group* g = nullptr;
        int rc = pk_group_create(&o, &g);
        EXPECT_EQ(PK_OK, rc) << pk_last_error();
        if (rc != PK_OK)
            return nullptr;
        groups_.push_back(g);
        return g;
    }
    pk_group* NewGroup() {
        pk_group_options o = PK_GROUP_OPTIONS_INIT;
        o.backend = backend_;
        return NewGroup(o);
    }

    int FreeGroup(pk_group* g) {
        groups_.erase(std::remove(groups_.begin(), groups_.end(), g), groups_.end());
        return pk_group_free(g);
    }

    int TrySpawn(pk_group* g, const std::vector<std::string>& args, pk_child** out,
                 const std::function<void(pk_spawn_options*)>& tweak = nullptr) {
        std::vector<const char*> argv;
        for (const std::string& a : args)
            argv.push_back(a.c_str());
        argv.push_back(nullptr);
        pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
        so.argv = argv.data();
        if (tweak)
            tweak(&so);
        pk_child* ch = nullptr;
        int rc = pk_group_spawn(g, &so, &ch);
        if (rc == PK_OK)
            children_.push_back(ch);
        *out = ch;
        return rc;
    }

    pk_child* Spawn(pk_group* g, const std::vector<std::string>& args,
                    const std::function<void(pk_spawn_options*)>& tweak = nullptr) {
        pk_child* ch = nullptr;
        int rc = TrySpawn(g, args, &ch, tweak);
        EXPECT_EQ(PK_OK, rc) << pk_last_error();
        return rc == PK_OK ? ch : nullptr;
    }

    pk_child* SpawnSh(pk_group* g, const std::string& script,
                      const std::function<void(pk_spawn_options*)>& tweak = nullptr) {
        return Spawn(g, {"sh", "-c", script}, tweak);
    }

    // Spawns `sh -c script` with stdout on a pipe and waits for the script's
    // first line, which must be "ready".
    pk_child* SpawnReady(pk_group* g, const std::string& script) {
        Pipe p;
        if (!p.Open()) {
            ADD_FAILURE() << "pipe: " << strerror(errno);
            return nullptr;
        }
        pk_child* ch = SpawnSh(g, script, [&](pk_spawn_options* so) {
            so->stdout_fd = p.w;
            so->stderr_fd = PK_STDIO_NULL;  // no "Terminated" from the shell in the log
        });
        if (!ch)
            return nullptr;
        p.CloseWrite();
        std::string line = ReadLine(p.r, kLongMs);
        EXPECT_EQ("ready\n", line) << "the child did not report readiness";
        return line == "ready\n" ? ch : nullptr;
    }

    static pid_t ChildPid(pk_child* ch) {
        int32_t pid = -1;
        EXPECT_EQ(PK_OK, pk_child_pid(ch, &pid)) << pk_last_error();
        return pid;
    }

    // Reads the pid a script wrote and remembers the process for teardown.
    pktest::ProcId TrackPidFile(const std::string& path) {
        pid_t pid = pktest::ReadPidFile(path, kLongMs);
        EXPECT_GT(pid, 0) << "no pid in " << path;
        pktest::ProcId id = pktest::Identify(pid);
        EXPECT_NE(0u, id.start_time) << "pid " << pid << " from " << path << " does not exist";
        if (id.start_time)
            strays_.push_back(id);
        return id;
    }

    // An ordinary child (SIGCHLD exit signal), not the library's.
    pid_t SpawnExternal(const std::vector<std::string>& args) {
        std::vector<char*> argv;
        for (const std::string& a : args)
            argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        pid_t pid = -1;
        int rc = posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ);
        EXPECT_EQ(0, rc) << "posix_spawnp: " << strerror(rc);
        if (rc != 0)
            return -1;
        externals_.push_back(pid);
        return pid;
    }

    // Reaps an external child within timeout_ms; false if it did not end.
    bool ReapExternal(pid_t pid, int* status, int timeout_ms = kLongMs) {
        bool reaped = WaitUntil(
            [&] {
                pid_t r = waitpid(pid, status, WNOHANG | __WALL);
                return r == pid;
            },
            timeout_ms);
        if (reaped)
            externals_.erase(std::remove(externals_.begin(), externals_.end(), pid), externals_.end());
        return reaped;
    }

    static std::vector<int32_t> Members(pk_group* g) {
        std::vector<int32_t> pids(64);
        size_t count = 0;
        for (;;) {
            int rc = pk_group_members(g, pids.data(), pids.size(), &count);
            EXPECT_EQ(PK_OK, rc) << pk_last_error();
            if (rc != PK_OK)
                return {};
            if (count <= pids.size())
                break;
            pids.resize(count * 2);
        }
        pids.resize(count);
        return pids;
    }

    static pk_containment Containment(pk_group* g) {
        pk_containment c = PK_CONTAINMENT_INIT;
        EXPECT_EQ(PK_OK, pk_group_containment(g, &c)) << pk_last_error();
        return c;
    }

    static pk_exit_status Wait(pk_child* ch, int timeout_ms = kLongMs) {
        pk_exit_status st = PK_EXIT_STATUS_INIT;
        EXPECT_EQ(PK_OK, pk_child_wait(ch, timeout_ms, &st)) << pk_last_error();
        return st;
    }
};

class GroupTest : public Fixture, public testing::WithParamInterface<int> {
  protected:
    void SetUp() override { backend_ = GetParam(); }
    bool IsCgroup() const { return GetParam() == PK_BACKEND_CGROUP_V2; }
};

class HostTest : public Fixture {};

std::string BackendName(const testing::TestParamInfo<int>& info) {
    return info.param == PK_BACKEND_CGROUP_V2 ? "CgroupV2" : "ProcessGroup";
}

INSTANTIATE_TEST_SUITE_P(Backends, GroupTest,
                         testing::Values(static_cast<int>(PK_BACKEND_CGROUP_V2),
                                         static_cast<int>(PK_BACKEND_PROCESS_GROUP)),
                         BackendName);

// ---------------------------------------------------------------------------
// 1. Kill on free reaches the grandchild.

TEST_P(GroupTest, GrandchildDiesOnFree) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    EXPECT_EQ(IsCgroup() ? PK_MECHANISM_CGROUP_V2 : PK_MECHANISM_PROCESS_GROUP, Containment(g).mechanism);
    std::string pidfile = tmp_.File("gc.pid");
    pk_child* ch = SpawnSh(g, "sleep 30 & echo $! > " + pidfile + "; wait");
    ASSERT_NE(nullptr, ch);
    pktest::ProcId gc = TrackPidFile(pidfile);
    ASSERT_TRUE(pktest::Alive(gc));

    ASSERT_EQ(PK_OK, FreeGroup(g)) << pk_last_error();
    EXPECT_TRUE(pktest::WaitDead(gc, kLongMs)) << "grandchild " << gc.pid << " survived pk_group_free";
    pk_exit_status st = Wait(ch);
    EXPECT_EQ(PK_EXIT_SIGNAL, st.kind);
    EXPECT_EQ(SIGKILL, st.signal);
}

// 1b. A process that keeps forking its successor and exiting is never in
// one place for long: a /proc scan misses most links. It must still die with
// the group, and show up as a member while it runs.
std::string Runfile(const std::string& rel) {
    const char* srcdir = getenv("TEST_SRCDIR");
    const char* ws = getenv("TEST_WORKSPACE");
    return srcdir && ws ? std::string(srcdir) + "/" + ws + "/" + rel : rel;
}

TEST_P(GroupTest, ForkAndExitChainDiesOnFree) {
    for (int round = 0; round < 2; round++) {
        pk_group* g = NewGroup();
        ASSERT_NE(nullptr, g);
        const std::string last = tmp_.File("last" + std::to_string(round));
        const std::string stop = tmp_.File("stop" + std::to_string(round));
        ASSERT_NE(nullptr, Spawn(g, {Runfile("tests/fork_chain"), stop, last}));
        ASSERT_GT(pktest::ReadPidFile(last, kLongMs), 0) << "the chain never started";

        // Ask for the members for long enough that the chain's pids wrap
        // around pid_max at least once: a scan then finds it behind itself
        // and misses it, which must not make the group forget it.
        int seen = 0, asked = 0;
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2500);
        while (std::chrono::steady_clock::now() < until) {
            asked++;
            seen += !Members(g).empty();
        }
        EXPECT_GT(seen, 0) << "round " << round << ": pk_group_members never saw the running chain in " << asked
                           << " calls";

        ASSERT_EQ(PK_OK, FreeGroup(g)) << pk_last_error();
        // A live chain rewrites the file every 256 links (well under 100 ms).
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        pid_t after_free = pktest::ReadPidFile(last, kLongMs);
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        pid_t later = pktest::ReadPidFile(last, kLongMs);
        std::ofstream(stop).put('\n');  // ends a chain that escaped
        EXPECT_EQ(after_free, later) << "round " << round << ": the chain outlived pk_group_free";
        if (after_free != later)
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
}

// 2. A PK_SPAWN_NEW_SESSION child's grandchild inherits the session and stays
// contained on both backends.
TEST_P(GroupTest, NewSessionChildsGrandchildDiesOnFree) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    std::string pidfile = tmp_.File("gc.pid");
    pk_child* ch = SpawnSh(g, "sleep 30 & echo $! > " + pidfile + "; wait",
                           [](pk_spawn_options* so) { so->flags |= PK_SPAWN_NEW_SESSION; });
    ASSERT_NE(nullptr, ch);
    pid_t child = ChildPid(ch);
    pktest::ProcId gc = TrackPidFile(pidfile);
    ASSERT_TRUE(pktest::Alive(gc));
    EXPECT_EQ(child, getsid(child)) << "the child does not lead a new session";
    EXPECT_EQ(child, getsid(gc.pid)) << "the grandchild is not in the child's session";

    ASSERT_EQ(PK_OK, FreeGroup(g)) << pk_last_error();
    EXPECT_TRUE(pktest::WaitDead(gc, kLongMs)) << "grandchild " << gc.pid << " survived pk_group_free";
    pk_exit_status st = Wait(ch);
    EXPECT_EQ(PK_EXIT_SIGNAL, st.kind);
    EXPECT_EQ(SIGKILL, st.signal);
}

// 3. A grandchild that calls setsid itself: contained by cgroup v2; on the
// process group it escapes, and the mechanism says so (no CONTAINS_SETSID).
TEST_P(GroupTest, SelfSetsidGrandchild) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    std::string pidfile = tmp_.File("gc.pid");
    pk_child* ch = SpawnSh(g, "/usr/bin/setsid sleep 30 & echo $! > " + pidfile + "; wait");
    ASSERT_NE(nullptr, ch);
    pid_t child = ChildPid(ch);
    pktest::ProcId gc = TrackPidFile(pidfile);
    ASSERT_TRUE(pktest::Alive(gc));
    // setsid(1) calls setsid() and then execs sleep in the same process.
    ASSERT_TRUE(WaitUntil([&] { return getsid(gc.pid) == gc.pid; }, kLongMs))
        << "the grandchild never led a new session (getsid " << getsid(gc.pid) << ")";
    EXPECT_NE(getsid(child), getsid(gc.pid));
    EXPECT_NE(0, pktest::State(gc.pid));

    pk_containment c = Containment(g);
    const bool contains_setsid = (c.features & PK_FEATURE_CONTAINS_SETSID) != 0;
    if (IsCgroup()) {
        EXPECT_EQ(PK_MECHANISM_CGROUP_V2, c.mechanism);
        EXPECT_TRUE(contains_setsid);
        EXPECT_TRUE(Contains(Members(g), gc.pid)) << "the setsid grandchild is not listed as a member";
    } else {
        EXPECT_EQ(PK_MECHANISM_PROCESS_GROUP, c.mechanism);
        EXPECT_FALSE(contains_setsid) << "the process group claims to contain setsid escapees";
    }

    ASSERT_EQ(PK_OK, FreeGroup(g)) << pk_last_error();
    if (contains_setsid) {
        EXPECT_TRUE(pktest::WaitDead(gc, kLongMs)) << "setsid grandchild survived a mechanism that contains it";
    } else {
        // The documented weakness: the escapee survives. Kill it ourselves.
        EXPECT_TRUE(pktest::Alive(gc)) << "expected the setsid grandchild to escape the process group";
        pktest::KillIfAlive(gc);
        EXPECT_TRUE(pktest::WaitDead(gc, kLongMs));
    }
    pk_exit_status st = Wait(ch);
    EXPECT_EQ(PK_EXIT_SIGNAL, st.kind);
    EXPECT_EQ(SIGKILL, st.signal);
}

// ---------------------------------------------------------------------------
// 4. pk_group_kill

TEST_P(GroupTest, KillIsIdempotentAndGroupStaysUsable) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    pk_child* ch = Spawn(g, {"sleep", "30"});
    ASSERT_NE(nullptr, ch);
    pktest::ProcId id = pktest::Identify(ChildPid(ch));
    ASSERT_TRUE(pktest::Alive(id));

    EXPECT_EQ(PK_OK, pk_group_kill(g)) << pk_last_error();
    EXPECT_EQ(PK_OK, pk_group_kill(g)) << pk_last_error();
    pk_exit_status st = Wait(ch);
    EXPECT_EQ(PK_EXIT_SIGNAL, st.kind);
    EXPECT_EQ(SIGKILL, st.signal);
    EXPECT_FALSE(pktest::Alive(id));
    EXPECT_EQ(PK_OK, pk_group_kill(g)) << "kill of an emptied group: " << pk_last_error();

    // Reusable: a later spawn runs normally.
    pk_child* again = Spawn(g, {"sh", "-c", "exit 3"});
    ASSERT_NE(nullptr, again);
    st = Wait(again);
    EXPECT_EQ(PK_EXIT_CODE, st.kind) << "the spawn after pk_group_kill ended by signal " << st.signal;
    EXPECT_EQ(3, st.code);
}

TEST_P(GroupTest, KillOnZombieOnlyGroupSucceeds) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    pk_child* ch = Spawn(g, {"sh", "-c", "exit 0"});
    ASSERT_NE(nullptr, ch);
    pid_t pid = ChildPid(ch);
    int fd = -1;
    ASSERT_EQ(PK_OK, pk_child_pollfd(ch, &fd)) << pk_last_error();
    struct pollfd p = {fd, POLLIN, 0};
    ASSERT_EQ(1, poll(&p, 1, kLongMs)) << "the child's pidfd never became readable";
    ASSERT_EQ('Z', pktest::State(pid)) << "the exited child should still be an unreaped zombie";

    EXPECT_EQ(PK_OK, pk_group_kill(g)) << pk_last_error();

    pk_exit_status st = Wait(ch);
    EXPECT_EQ(PK_EXIT_CODE, st.kind);
    EXPECT_EQ(0, st.code);
}

// ---------------------------------------------------------------------------
// 5. Adopt

TEST_P(GroupTest, AdoptedLiveChildIsKilledWithGroup) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    pid_t pid = SpawnExternal({"sleep", "30"});
    ASSERT_GT(pid, 0);
    pktest::ProcId id = pktest::Identify(pid);
    ASSERT_TRUE(pktest::Alive(id));

    ASSERT_EQ(PK_OK, pk_group_adopt(g, pid)) << pk_last_error();
    EXPECT_TRUE(Contains(Members(g), pid));
    EXPECT_EQ(PK_OK, pk_group_kill(g)) << pk_last_error();
    EXPECT_TRUE(pktest::WaitDead(id, kLongMs)) << "the adopted child survived pk_group_kill";
    int status = 0;
    ASSERT_TRUE(ReapExternal(pid, &status));
    EXPECT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(SIGKILL, WTERMSIG(status));
}

TEST_P(GroupTest, AdoptExitedUnreapedChildIsOk) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    pid_t pid = SpawnExternal({"true"});
    ASSERT_GT(pid, 0);
    siginfo_t info;
    memset(&info, 0, sizeof info);
    ASSERT_EQ(0, waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT | __WALL)) << strerror(errno);
    ASSERT_EQ('Z', pktest::State(pid));

    EXPECT_EQ(PK_OK, pk_group_adopt(g, pid)) << pk_last_error();
    EXPECT_FALSE(Contains(Members(g), pid));
    int status = 0;
    ASSERT_TRUE(ReapExternal(pid, &status));
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_P(GroupTest, AdoptReapedChildFails) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    pid_t pid = SpawnExternal({"true"});
    ASSERT_GT(pid, 0);
    int status = 0;
    ASSERT_TRUE(ReapExternal(pid, &status));

    EXPECT_EQ(PK_ERR_NO_PROCESS, pk_group_adopt(g, pid));
    EXPECT_TRUE(Members(g).empty());
}

TEST_P(GroupTest, AdoptTwiceTracksOnce) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    pid_t pid = SpawnExternal({"sleep", "30"});
    ASSERT_GT(pid, 0);
    pktest::ProcId id = pktest::Identify(pid);

    ASSERT_EQ(PK_OK, pk_group_adopt(g, pid)) << pk_last_error();
    ASSERT_EQ(PK_OK, pk_group_adopt(g, pid)) << pk_last_error();
    std::vector<int32_t> m = Members(g);
    EXPECT_EQ(1, std::count(m.begin(), m.end(), pid)) << "members lists the twice-adopted child "
                                                      << std::count(m.begin(), m.end(), pid) << " times";

    EXPECT_EQ(PK_OK, pk_group_kill(g)) << pk_last_error();
    EXPECT_TRUE(pktest::WaitDead(id, kLongMs));
    int status = 0;
    ASSERT_TRUE(ReapExternal(pid, &status));
    EXPECT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(SIGKILL, WTERMSIG(status));
}

TEST_P(GroupTest, FreeKillsAnAdoptedChild) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    pid_t pid = SpawnExternal({"sleep", "30"});
    ASSERT_GT(pid, 0);
    pktest::ProcId id = pktest::Identify(pid);
    ASSERT_EQ(PK_OK, pk_group_adopt(g, pid)) << pk_last_error();

    EXPECT_EQ(PK_OK, FreeGroup(g)) << pk_last_error();
    EXPECT_TRUE(pktest::WaitDead(id, kLongMs)) << "the adopted child survived pk_group_free";
    int status = 0;
    ASSERT_TRUE(ReapExternal(pid, &status));
    EXPECT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(SIGKILL, WTERMSIG(status));
}

TEST_P(GroupTest, AdoptOfANonChildFailsAndLeavesItAlone) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    pktest::ProcId init = pktest::Identify(1);
    ASSERT_NE(0u, init.start_time);
    const std::string cgroup_before = ReadText("/proc/1/cgroup");
    const pid_t pgid_before = getpgid(1);
    const pid_t sid_before = getsid(1);

    EXPECT_EQ(PK_ERR_NO_PROCESS, pk_group_adopt(g, 1));
    EXPECT_STRNE("", pk_last_error());

    EXPECT_TRUE(pktest::Alive(init));
    EXPECT_EQ(cgroup_before, ReadText("/proc/1/cgroup"));
    EXPECT_EQ(pgid_before, getpgid(1));
    EXPECT_EQ(sid_before, getsid(1));
    EXPECT_TRUE(Members(g).empty());
}

// ---------------------------------------------------------------------------
// 6. Suspend and resume

TEST_P(GroupTest, SuspendStopsProgressAndResumeRestartsIt) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    std::string ticks = tmp_.File("ticks");
    pk_child* ch = SpawnSh(g, "while :; do echo x >> " + ticks + "; sleep 0.05; done");
    ASSERT_NE(nullptr, ch);
    pid_t pid = ChildPid(ch);
    ASSERT_TRUE(WaitUntil([&] { return FileSize(ticks) >= 4; }, kLongMs)) << "the ticker never ticked";

    ASSERT_EQ(PK_OK, pk_group_suspend(g)) << pk_last_error();
    if (!IsCgroup()) {
        // SIGSTOP is asynchronous: a write in flight may still land. Once the
        // shell shows as stopped, nothing more can. A shell caught in vfork
        // waits uninterruptibly ('D') for its child, which is stopped too.
        ASSERT_TRUE(WaitUntil(
            [&] {
                char st = pktest::State(pid);
                return st == 'T' || st == 'D';
            },
            kLongMs))
            << "state " << pktest::State(pid);
    }
    const int64_t frozen_size = FileSize(ticks);
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    EXPECT_EQ(frozen_size, FileSize(ticks)) << "the file grew while the group was suspended";

    pk_child* refused = nullptr;
    EXPECT_EQ(PK_ERR_STATE, TrySpawn(g, {"true"}, &refused));
    EXPECT_EQ(nullptr, refused);

    ASSERT_EQ(PK_OK, pk_group_resume(g)) << pk_last_error();
    EXPECT_TRUE(WaitUntil([&] { return FileSize(ticks) > frozen_size; }, kLongMs))
        << "the file did not grow again after resume";
}

// ---------------------------------------------------------------------------
// 7. Members

TEST_P(GroupTest, MembersGrowAndShrink) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    EXPECT_TRUE(Members(g).empty());
    std::vector<pk_child*> ch;
    std::vector<pid_t> pids;
    for (int i = 0; i < 3; i++) {
        ch.push_back(Spawn(g, {"sleep", "30"}));
        ASSERT_NE(nullptr, ch.back());
        pids.push_back(ChildPid(ch.back()));
    }
    std::vector<int32_t> m = Members(g);
    EXPECT_GE(m.size(), 3u);
    for (pid_t p : pids)
        EXPECT_TRUE(Contains(m, p)) << "pid " << p << " missing from members";

    ASSERT_EQ(PK_OK, pk_child_signal(ch[0], SIGKILL)) << pk_last_error();
    pk_exit_status st = Wait(ch[0]);
    EXPECT_EQ(PK_EXIT_SIGNAL, st.kind);
    EXPECT_EQ(SIGKILL, st.signal);
    m = Members(g);
    EXPECT_FALSE(Contains(m, pids[0])) << "a dead child is still listed";
    EXPECT_TRUE(Contains(m, pids[1]));
    EXPECT_TRUE(Contains(m, pids[2]));

    const bool all_members = (Containment(g).features & PK_FEATURE_ALL_MEMBERS) != 0;
    EXPECT_EQ(IsCgroup(), all_members);
    if (all_members) {
        std::string pidfile = tmp_.File("gc.pid");
        ASSERT_NE(nullptr, SpawnSh(g, "sleep 30 & echo $! > " + pidfile + "; wait"));
        pktest::ProcId gc = TrackPidFile(pidfile);
        EXPECT_TRUE(Contains(Members(g), gc.pid)) << "the grandchild is not listed";
    }
}

// ---------------------------------------------------------------------------
// 8. Shutdown

TEST_P(GroupTest, ShutdownDrainsATermHandlerEarly) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    pk_child* ch = SpawnReady(g, "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done");
    ASSERT_NE(nullptr, ch);

    pk_shutdown_options o = PK_SHUTDOWN_OPTIONS_INIT;
    o.grace_ms = 10000;
    pk_shutdown_report r = PK_SHUTDOWN_REPORT_INIT;
    auto t0 = Clock::now();
    ASSERT_EQ(PK_OK, pk_group_shutdown(g, &o, &r)) << pk_last_error();
    int64_t elapsed = MsSince(t0);
    EXPECT_LT(elapsed, 8000) << "the drained tree did not end the grace early";
    EXPECT_NE(0, r.drained);
    EXPECT_EQ(0, r.escalated);
    EXPECT_GE(r.members_before, 1u);
    EXPECT_EQ(0u, r.members_after);
    pk_exit_status st = Wait(ch);
    EXPECT_EQ(PK_EXIT_CODE, st.kind);
    EXPECT_EQ(0, st.code);
}

TEST_P(GroupTest, ShutdownEscalatesOnATermIgnorer) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    pk_child* ch = SpawnReady(g, "trap '' TERM; echo ready; exec sleep 30");
    ASSERT_NE(nullptr, ch);
    ASSERT_TRUE(IgnoresSignal(ChildPid(ch), SIGTERM));

    pk_shutdown_options o = PK_SHUTDOWN_OPTIONS_INIT;
    o.grace_ms = 500;
    pk_shutdown_report r = PK_SHUTDOWN_REPORT_INIT;
    auto t0 = Clock::now();
    ASSERT_EQ(PK_OK, pk_group_shutdown(g, &o, &r)) << pk_last_error();
    int64_t elapsed = MsSince(t0);
    EXPECT_GE(elapsed, 300);
    EXPECT_GE(r.elapsed_us, 300000u);
    EXPECT_EQ(0, r.drained);
    EXPECT_NE(0, r.escalated);
    EXPECT_EQ(0u, r.members_after);
    pk_exit_status st = Wait(ch);
    EXPECT_EQ(PK_EXIT_SIGNAL, st.kind);
    EXPECT_EQ(SIGKILL, st.signal);
}

TEST_P(GroupTest, ShutdownWithoutEscalationSparesSurvivorsAlsoAtFree) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    pk_child* ch = SpawnReady(g, "trap '' TERM; echo ready; exec sleep 30");
    ASSERT_NE(nullptr, ch);
    pid_t pid = ChildPid(ch);
    ASSERT_TRUE(IgnoresSignal(pid, SIGTERM));
    pktest::ProcId id = pktest::Identify(pid);
    const std::string leaf = Containment(g).cgroup_path;

    pk_shutdown_options o = PK_SHUTDOWN_OPTIONS_INIT;
    o.grace_ms = 300;
    o.escalate = 0;
    pk_shutdown_report r = PK_SHUTDOWN_REPORT_INIT;
    ASSERT_EQ(PK_OK, pk_group_shutdown(g, &o, &r)) << pk_last_error();
    EXPECT_EQ(0, r.drained);
    EXPECT_EQ(0, r.escalated);
    EXPECT_GE(r.members_after, 1u);
    EXPECT_TRUE(pktest::Alive(id)) << "escalate=0 killed the TERM ignorer";

    ASSERT_EQ(PK_OK, FreeGroup(g)) << pk_last_error();
    EXPECT_TRUE(pktest::Alive(id)) << "pk_group_free killed a survivor a non-escalating shutdown spared";
    if (!leaf.empty()) {
        EXPECT_FALSE(PathExists(leaf)) << "the leaf was not removed after moving the survivors out";
    }

    ASSERT_EQ(PK_OK, pk_child_signal(ch, SIGKILL)) << pk_last_error();
    pk_exit_status st = Wait(ch);
    EXPECT_EQ(PK_EXIT_SIGNAL, st.kind);
    EXPECT_EQ(SIGKILL, st.signal);
}

TEST_P(GroupTest, SpawnAfterNonEscalatingShutdownRearmsKillOnFree) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    pk_child* ignorer = SpawnReady(g, "trap '' TERM; echo ready; exec sleep 30");
    ASSERT_NE(nullptr, ignorer);
    pktest::ProcId ignorer_id = pktest::Identify(ChildPid(ignorer));

    pk_shutdown_options o = PK_SHUTDOWN_OPTIONS_INIT;
    o.grace_ms = 200;
    o.escalate = 0;
    ASSERT_EQ(PK_OK, pk_group_shutdown(g, &o, nullptr)) << pk_last_error();
    ASSERT_TRUE(pktest::Alive(ignorer_id));

    pk_child* later = Spawn(g, {"sleep", "30"});
    ASSERT_NE(nullptr, later);
    pktest::ProcId later_id = pktest::Identify(ChildPid(later));

    ASSERT_EQ(PK_OK, FreeGroup(g)) << pk_last_error();
    EXPECT_TRUE(pktest::WaitDead(ignorer_id, kLongMs)) << "the spared ignorer survived a re-armed free";
    EXPECT_TRUE(pktest::WaitDead(later_id, kLongMs)) << "the later child survived a re-armed free";
    EXPECT_EQ(SIGKILL, Wait(ignorer).signal);
    EXPECT_EQ(SIGKILL, Wait(later).signal);
}

TEST_P(GroupTest, AdoptAfterNonEscalatingShutdownRearmsKillOnFree) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    pk_child* ignorer = SpawnReady(g, "trap '' TERM; echo ready; exec sleep 30");
    ASSERT_NE(nullptr, ignorer);
    pktest::ProcId ignorer_id = pktest::Identify(ChildPid(ignorer));

    pk_shutdown_options o = PK_SHUTDOWN_OPTIONS_INIT;
    o.grace_ms = 200;
    o.escalate = 0;
    ASSERT_EQ(PK_OK, pk_group_shutdown(g, &o, nullptr)) << pk_last_error();
    ASSERT_TRUE(pktest::Alive(ignorer_id));

    pid_t ext = SpawnExternal({"sleep", "30"});
    ASSERT_GT(ext, 0);
    pktest::ProcId ext_id = pktest::Identify(ext);
    ASSERT_EQ(PK_OK, pk_group_adopt(g, ext)) << pk_last_error();

    // The adopted child is ours to reap; do it while pk_group_free runs, as a
    // caller with a SIGCHLD handler would, so the process-group backend's
    // zombie problem (FreeKillsAnAdoptedChild) does not mask the re-arm.
    int ext_status = 0;
    bool ext_reaped = false;
    std::thread reaper([&] {
        ext_reaped = WaitUntil([&] { return waitpid(ext, &ext_status, WNOHANG | __WALL) == ext; }, kLongMs);
    });
    int rc = FreeGroup(g);
    reaper.join();
    if (ext_reaped)
        externals_.erase(std::remove(externals_.begin(), externals_.end(), ext), externals_.end());
    EXPECT_EQ(PK_OK, rc) << pk_last_error();
    EXPECT_TRUE(pktest::WaitDead(ignorer_id, kLongMs)) << "the spared ignorer survived a re-armed free";
    EXPECT_TRUE(pktest::WaitDead(ext_id, kLongMs)) << "the adopted child survived a re-armed free";
    EXPECT_EQ(SIGKILL, Wait(ignorer).signal);
    ASSERT_TRUE(ext_reaped) << "the adopted child was not killed by the re-armed free";
    EXPECT_TRUE(WIFSIGNALED(ext_status));
    EXPECT_EQ(SIGKILL, WTERMSIG(ext_status));
}

// ---------------------------------------------------------------------------
// 9. Cleanup of the cgroup leaf; host probe

TEST_P(GroupTest, NothingOfTheGroupRemainsAfterFree) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    pk_containment c = Containment(g);
    const std::string leaf = c.cgroup_path;
    if (IsCgroup()) {
        ASSERT_FALSE(leaf.empty());
        EXPECT_TRUE(IsDir(leaf)) << leaf;
        std::vector<std::string> leaves = pktest::OurCgroupLeaves();
        EXPECT_EQ(1u, leaves.size());
        EXPECT_TRUE(std::find(leaves.begin(), leaves.end(), leaf) != leaves.end()) << leaf;
        EXPECT_EQ(pktest::CgroupMount(), std::string(c.cgroup_mount));
    } else {
        EXPECT_EQ("", leaf);
        EXPECT_TRUE(pktest::OurCgroupLeaves().empty());
    }
    ASSERT_NE(nullptr, Spawn(g, {"sleep", "30"}));

    ASSERT_EQ(PK_OK, FreeGroup(g)) << pk_last_error();
    if (!leaf.empty()) {
        EXPECT_FALSE(PathExists(leaf)) << leaf << " still exists after pk_group_free";
    }
    EXPECT_TRUE(pktest::OurCgroupLeaves().empty());
}

TEST_F(HostTest, ProbeMatchesARealGroup) {
    pk_containment probe = PK_CONTAINMENT_INIT;
    ASSERT_EQ(PK_OK, pk_host_probe(PK_BACKEND_AUTO, &probe)) << pk_last_error();
    pk_group_options o = PK_GROUP_OPTIONS_INIT;
    pk_group* g = NewGroup(o);
    ASSERT_NE(nullptr, g);
    pk_containment real = Containment(g);
    EXPECT_EQ(real.mechanism, probe.mechanism) << "probe says " << pk_mechanism_name(probe.mechanism)
                                               << ", a real group got " << pk_mechanism_name(real.mechanism);
    EXPECT_EQ(real.features, probe.features);
    EXPECT_STREQ(real.cgroup_mount, probe.cgroup_mount);
    EXPECT_EQ(PK_MECHANISM_CGROUP_V2, probe.mechanism) << "this host has a writable cgroup v2: " << probe.reason;

    pk_containment cg = PK_CONTAINMENT_INIT;
    ASSERT_EQ(PK_OK, pk_host_probe(PK_BACKEND_CGROUP_V2, &cg)) << pk_last_error();
    EXPECT_EQ(PK_MECHANISM_CGROUP_V2, cg.mechanism) << cg.reason;
    EXPECT_EQ(pktest::CgroupMount(), std::string(cg.cgroup_mount));
    EXPECT_NE(0u, cg.features & PK_FEATURE_CONTAINS_SETSID);

    pk_containment pg = PK_CONTAINMENT_INIT;
    ASSERT_EQ(PK_OK, pk_host_probe(PK_BACKEND_PROCESS_GROUP, &pg)) << pk_last_error();
    EXPECT_EQ(PK_MECHANISM_PROCESS_GROUP, pg.mechanism);
    EXPECT_EQ(0u, pg.features & PK_FEATURE_CONTAINS_SETSID);
}

// ---------------------------------------------------------------------------
// 10. Limits this host cannot enforce are refused, never downgraded.

TEST_P(GroupTest, UnenforceableLimitsAreRefused) {
    struct Case {
        const char* controller;
        std::function<void(pk_group_options*)> set;
    };
    const Case cases[] = {
        {"memory", [](pk_group_options* o) { o->memory_max = 64ull << 20; }},
        {"pids", [](pk_group_options* o) { o->pids_max = 10; }},
        {"cpu", [](pk_group_options* o) { o->cpu_max = 0.5; }},
    };
    const std::vector<std::string> leaves_before = pktest::OurCgroupLeaves();
    for (const Case& c : cases) {
        SCOPED_TRACE(c.controller);
        pk_group_options o = PK_GROUP_OPTIONS_INIT;
        o.backend = GetParam();
        c.set(&o);
        pk_group* g = nullptr;
        int rc = pk_group_create(&o, &g);
        if (g)
            groups_.push_back(g);  // freed at teardown if it was made anyway
        EXPECT_EQ(PK_ERR_LIMIT, rc) << pk_last_error();
        EXPECT_EQ(nullptr, g);
        if (IsCgroup()) {
            EXPECT_NE(nullptr, strstr(pk_last_error(), c.controller))
                << "the message does not name the controller: " << pk_last_error();
        }
        EXPECT_EQ(leaves_before, pktest::OurCgroupLeaves()) << "a failed create left a cgroup behind";
    }
}

TEST_F(HostTest, LimitsAreRefusedOnAutoAndProbeAgrees) {
    pk_containment probe = PK_CONTAINMENT_INIT;
    ASSERT_EQ(PK_OK, pk_host_probe(PK_BACKEND_AUTO, &probe)) << pk_last_error();
    EXPECT_EQ(0u, probe.features & PK_FEATURE_LIMIT_MEMORY) << "the probe claims memory limits on this host";
    pk_containment cg = PK_CONTAINMENT_INIT;
    ASSERT_EQ(PK_OK, pk_host_probe(PK_BACKEND_CGROUP_V2, &cg)) << pk_last_error();
    EXPECT_EQ(0u, cg.features & PK_FEATURE_LIMIT_MEMORY);

    pk_group_options o = PK_GROUP_OPTIONS_INIT;
    o.memory_max = 64ull << 20;
    pk_group* g = nullptr;
    int rc = pk_group_create(&o, &g);
    if (g)
        groups_.push_back(g);
    EXPECT_EQ(PK_ERR_LIMIT, rc) << pk_last_error();
    EXPECT_NE(nullptr, strstr(pk_last_error(), "memory")) << pk_last_error();
    EXPECT_TRUE(pktest::OurCgroupLeaves().empty());
}

// ---------------------------------------------------------------------------
// 11. min_mechanism

TEST_F(HostTest, MinMechanismRefusesWeakerBackends) {
    pk_group_options o = PK_GROUP_OPTIONS_INIT;
    o.backend = PK_BACKEND_PROCESS_GROUP;
    o.min_mechanism = PK_MECHANISM_CGROUP_V2;
    pk_group* g = nullptr;
    int rc = pk_group_create(&o, &g);
    if (g)
        groups_.push_back(g);
    EXPECT_EQ(PK_ERR_UNAVAILABLE, rc) << pk_last_error();
    EXPECT_EQ(nullptr, g);

    o.backend = PK_BACKEND_AUTO;
    g = NewGroup(o);
    ASSERT_NE(nullptr, g);
    EXPECT_EQ(PK_MECHANISM_CGROUP_V2, Containment(g).mechanism);
}

// ---------------------------------------------------------------------------
// 12. Stats

TEST_P(GroupTest, StatsCountTheTreeAndCpuTime) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    const bool cpu_stats = (Containment(g).features & PK_FEATURE_CPU_STATS) != 0;
    EXPECT_EQ(IsCgroup(), cpu_stats);

    std::string pidfile = tmp_.File("gc.pid");
    ASSERT_NE(nullptr, SpawnSh(g, "sleep 30 & echo $! > " + pidfile + "; wait"));
    pktest::ProcId gc = TrackPidFile(pidfile);
    ASSERT_TRUE(pktest::Alive(gc));
    pk_group_stats st = PK_GROUP_STATS_INIT;
    ASSERT_EQ(PK_OK, pk_group_stats_get(g, &st)) << pk_last_error();
    if (IsCgroup()) {
        EXPECT_EQ(2u, st.live_processes) << "the shell and its sleep";
    } else {
        EXPECT_EQ(1u, st.live_processes) << "one tracked group leader";
    }

    pk_child* busy = SpawnSh(g, "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done");
    ASSERT_NE(nullptr, busy);
    pk_exit_status es = Wait(busy, 120000);
    EXPECT_EQ(PK_EXIT_CODE, es.kind);
    EXPECT_EQ(0, es.code);

    st = PK_GROUP_STATS_INIT;
    ASSERT_EQ(PK_OK, pk_group_stats_get(g, &st)) << pk_last_error();
    if (IsCgroup()) {
        EXPECT_GE(st.cpu_time_us, 0) << "cpu.stat should report usage";
    } else {
        EXPECT_EQ(-1, st.cpu_time_us);
    }
}

// ---------------------------------------------------------------------------
// 13. Failed spawns leave nothing behind.

TEST_P(GroupTest, SpawnFailuresLeaveNothingBehind) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);

    pk_child* ch = nullptr;
    EXPECT_EQ(PK_ERR_NOT_FOUND, TrySpawn(g, {"/nonexistent/processkit-no-such-program"}, &ch)) << pk_last_error();
    EXPECT_EQ(nullptr, ch);
    EXPECT_EQ(PK_ERR_NOT_FOUND, TrySpawn(g, {"processkit-no-such-program-in-path"}, &ch)) << pk_last_error();
    EXPECT_EQ(nullptr, ch);

    std::string script = tmp_.File("not-executable.sh");
    {
        std::ofstream out(script);
        out << "#!/bin/sh\nexit 0\n";
    }
    ASSERT_EQ(0, chmod(script.c_str(), 0644));
    EXPECT_EQ(PK_ERR_PERMISSION, TrySpawn(g, {script}, &ch)) << pk_last_error();
    EXPECT_EQ(nullptr, ch);

    EXPECT_TRUE(Members(g).empty());
    std::vector<pid_t> kids = ChildrenOfUs();
    EXPECT_TRUE(kids.empty()) << "a failed spawn left pid " << kids[0] << " (state " << pktest::State(kids[0])
                              << ")";
}

// ---------------------------------------------------------------------------
// 14. Stdio

TEST_P(GroupTest, StdoutToAPipe) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    Pipe p;
    ASSERT_TRUE(p.Open());
    pk_child* ch = Spawn(g, {"echo", "hello"}, [&](pk_spawn_options* so) { so->stdout_fd = p.w; });
    ASSERT_NE(nullptr, ch);
    p.CloseWrite();
    bool eof = false;
    EXPECT_EQ("hello\n", ReadAll(p.r, kLongMs, &eof));
    EXPECT_TRUE(eof);
    pk_exit_status st = Wait(ch);
    EXPECT_EQ(PK_EXIT_CODE, st.kind);
    EXPECT_EQ(0, st.code);
}

TEST_P(GroupTest, NullStdinGivesImmediateEof) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    pk_child* ch = Spawn(g, {"cat"}, [](pk_spawn_options* so) {
        so->stdin_fd = PK_STDIO_NULL;
        so->stdout_fd = PK_STDIO_NULL;
    });
    ASSERT_NE(nullptr, ch);
    pk_exit_status st = Wait(ch);
    EXPECT_EQ(PK_EXIT_CODE, st.kind);
    EXPECT_EQ(0, st.code);
}

TEST_P(GroupTest, ChildInheritsOnlyStdio) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    // An extra fd without O_CLOEXEC, besides the pipe's two.
    int extra = open("/dev/null", O_RDONLY);
    ASSERT_GE(extra, 0);
    Pipe p;
    ASSERT_TRUE(p.Open());
    pk_child* ch = Spawn(g, {"ls", "/proc/self/fd"}, [&](pk_spawn_options* so) {
        so->stdin_fd = PK_STDIO_NULL;
        so->stdout_fd = p.w;
        so->stderr_fd = PK_STDIO_NULL;
    });
    close(extra);
    ASSERT_NE(nullptr, ch);
    p.CloseWrite();
    bool eof = false;
    std::string out = ReadAll(p.r, kLongMs, &eof);
    EXPECT_TRUE(eof);
    std::set<int> fds;
    std::istringstream words(out);
    std::string w;
    while (words >> w)
        fds.insert(atoi(w.c_str()));
    EXPECT_EQ((std::set<int>{0, 1, 2, 3}), fds) << "ls /proc/self/fd printed:\n" << out;
    pk_exit_status st = Wait(ch);
    EXPECT_EQ(PK_EXIT_CODE, st.kind);
    EXPECT_EQ(0, st.code);
}

// ---------------------------------------------------------------------------
// 15. Child handle edges

TEST_P(GroupTest, ChildSignalAfterReapAndWaitTimeout) {
    pk_group* g = NewGroup();
    ASSERT_NE(nullptr, g);
    pk_child* ch = Spawn(g, {"sleep", "30"});
    ASSERT_NE(nullptr, ch);
    pk_exit_status st = PK_EXIT_STATUS_INIT;
    EXPECT_EQ(PK_ERR_TIMEOUT, pk_child_wait(ch, 0, &st));
    EXPECT_EQ(PK_EXIT_RUNNING, st.kind) << "a timed-out wait must not write the status";

    ASSERT_EQ(PK_OK, pk_child_signal(ch, SIGKILL)) << pk_last_error();
    st = Wait(ch);
    EXPECT_EQ(PK_EXIT_SIGNAL, st.kind);
    EXPECT_EQ(SIGKILL, st.signal);

    EXPECT_EQ(PK_ERR_NO_PROCESS, pk_child_signal(ch, SIGTERM));
    EXPECT_EQ(PK_ERR_NO_PROCESS, pk_child_signal(ch, SIGKILL));
    // A reaped child keeps reporting the same status.
    pk_exit_status again = PK_EXIT_STATUS_INIT;
    EXPECT_EQ(PK_OK, pk_child_wait(ch, 0, &again)) << pk_last_error();
    EXPECT_EQ(PK_EXIT_SIGNAL, again.kind);
    EXPECT_EQ(SIGKILL, again.signal);
}

// ---------------------------------------------------------------------------
// 16. Churn leaks nothing.

TEST_P(GroupTest, ManySpawnFreeCyclesLeakNothing) {
    auto cycle = [&]() -> bool {
        pk_group_options o = PK_GROUP_OPTIONS_INIT;
        o.backend = GetParam();
        pk_group* g = nullptr;
        int rc = pk_group_create(&o, &g);
        EXPECT_EQ(PK_OK, rc) << pk_last_error();
        if (rc != PK_OK)
            return false;
        groups_.push_back(g);
        pk_child* ch = Spawn(g, {"true"});
        rc = FreeGroup(g);
        EXPECT_EQ(PK_OK, rc) << pk_last_error();
        if (ch) {
            children_.erase(std::remove(children_.begin(), children_.end(), ch), children_.end());
            pk_exit_status st = PK_EXIT_STATUS_INIT;
            EXPECT_EQ(PK_OK, pk_child_wait(ch, kLongMs, &st)) << pk_last_error();
            EXPECT_EQ(PK_OK, pk_child_free(ch));
        }
        return ch != nullptr && rc == PK_OK;
    };
    ASSERT_TRUE(cycle());  // warm-up: one-time library state
    const int fds_before = pktest::OpenFdCount();
    for (int i = 0; i < 200; i++)
        ASSERT_TRUE(cycle()) << "cycle " << i;
    EXPECT_EQ(fds_before, pktest::OpenFdCount()) << "fds leaked over 200 cycles";
    EXPECT_TRUE(pktest::OurCgroupLeaves().empty());
    EXPECT_TRUE(ChildrenOfUs().empty());
}

}  // namespace
