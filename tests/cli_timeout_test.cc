// `pk timeout`, run as a user would run it, next to GNU coreutils' timeout
// where this host has one: its command line, its exit statuses, what its
// signals reach and what they leave behind.
//
// Every process is real. Liveness is judged by pid plus start time
// (pktest::Identify/Alive/WaitDead; zombies count as dead). Nothing is left
// behind: every pk (and GNU timeout) started is reaped, and SIGKILLed first if
// it overruns a generous deadline; every descendant learned from a pid file is
// killed at teardown if it still runs (the --no-tree and GNU cases leave some
// running on purpose); after each run no cgroup directory of that pk may
// remain, and at teardown this process has no child left. Children get
// RLIMIT_CORE 0, so a signal with a core action writes no core file.
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/proc_util.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

// Generous bound for one run; not a timing goal.
constexpr int kRunMs = 30000;
// How long descendants may keep pk's stdout/stderr open after pk exits.
constexpr int kDrainMs = 3000;

int64_t MsSince(Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

bool Contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

bool PathExists(const std::string& path) {
    struct stat st;
    return lstat(path.c_str(), &st) == 0;
}

bool WriteFile(const std::string& path, const std::string& data, mode_t mode = 0644) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return false;
    bool ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
    close(fd);
    return ok;
}

std::string ReadText(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        out.push_back(line);
    return out;
}

std::string PkPath() {
    const char* srcdir = getenv("TEST_SRCDIR");
    const char* ws = getenv("TEST_WORKSPACE");
    if (srcdir && *srcdir) {
        std::string path = std::string(srcdir) + "/" + (ws && *ws ? ws : "processkit") + "/cli/pk";
        if (access(path.c_str(), X_OK) == 0)
            return path;
    }
    char here[PATH_MAX];
    if (getcwd(here, sizeof here))
        return std::string(here) + "/cli/pk";
    return "cli/pk";
}

// GNU coreutils' timeout, when this host has one ("" otherwise).
std::string GnuTimeout() {
    static const std::string path = [] {
        for (const char* p : {"/usr/bin/timeout", "/bin/timeout"}) {
            if (access(p, X_OK) != 0)
                continue;
            std::string cmd = std::string(p) + " --version 2>/dev/null";
            FILE* f = popen(cmd.c_str(), "r");
            if (!f)
                continue;
            char buf[256] = "";
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            buf[n] = '\0';
            pclose(f);
            if (strstr(buf, "GNU coreutils"))
                return std::string(p);
        }
        return std::string();
    }();
    return path;
}

// The process group of a process (field 5 of /proc/PID/stat), or -1.
pid_t PgrpOf(pid_t pid) {
    std::string text = ReadText("/proc/" + std::to_string(pid) + "/stat");
    size_t close = text.rfind(')');
    if (close == std::string::npos)
        return -1;
    std::istringstream rest(text.substr(close + 2));
    std::string state;
    long ppid = 0, pgrp = -1;
    rest >> state >> ppid >> pgrp;
    return static_cast<pid_t>(pgrp);
}

// Cgroup directories that the process with this pid made (processkit-<pid>-*).
void FindDirs(const std::string& dir, const std::string& prefix, int depth, std::vector<std::string>* out) {
    DIR* d = opendir(dir.c_str());
    if (!d)
        return;
    while (struct dirent* e = readdir(d)) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        std::string path = dir + "/" + e->d_name;
        struct stat st;
        if (lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        if (strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0)
            out->push_back(path);
        if (depth > 0)
            FindDirs(path, prefix, depth - 1, out);
    }
    closedir(d);
}

std::vector<std::string> LeavesOf(pid_t pid) {
    std::vector<std::string> out;
    std::string mount = pktest::CgroupMount();
    if (!mount.empty())
        FindDirs(mount, "processkit-" + std::to_string(pid) + "-", 6, &out);
    return out;
}

void RemoveLeaf(const std::string& leaf) {
    WriteFile(leaf + "/cgroup.kill", "1");
    auto end = Clock::now() + std::chrono::seconds(3);
    while (rmdir(leaf.c_str()) != 0 && errno == EBUSY && Clock::now() < end)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

// Whether pk's groups here are cgroups (so setsid escapers are contained,
// and the keeper kills the tree of a SIGKILLed pk).
bool HostHasCgroups() {
    static const bool yes = [] {
        std::string cmd = "'" + PkPath() + "' probe --json 2>/dev/null";
        FILE* f = popen(cmd.c_str(), "r");
        if (!f)
            return false;
        char buf[4096] = "";
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        pclose(f);
        return strstr(buf, "\"mechanism\":\"cgroup-v2\"") != nullptr;
    }();
    return yes;
}

// ------------------------------------------------------------------ running

struct RunOpts {
    std::string stdin_path = "/dev/null";
    std::vector<int> ignored;     // signals set to SIG_IGN before exec
    bool stdout_closed = false;   // stdout: a pipe whose reading end is already closed
    bool stderr_closed = false;   // the same for stderr
    int fd3 = -1;                 // becomes the child's fd 3
    bool gnu = false;             // run GNU timeout instead of pk timeout
    bool raw = false;             // run pk ARGS (no "timeout")
};

struct Running {
    pid_t pid = -1;
    int out_fd = -1, err_fd = -1;
    Clock::time_point start;
    std::string out, err;
};

struct Result {
    bool reaped = false;
    int status = 0;
    int code = -1;   // exit status if it exited, else -1
    int signal = 0;  // the signal that killed it, if any
    std::string out, err;
    int64_t elapsed_ms = 0;
    pid_t pid = -1;
    // What a shell's $? would say.
    int Shell() const { return code >= 0 ? code : 128 + signal; }
};

std::string Describe(const Result& r) {
    return "code=" + std::to_string(r.code) + " killed_by=" + std::to_string(r.signal) + "\n--- stdout ---\n" +
           r.out + "\n--- stderr ---\n" + r.err;
}

class TimeoutTest : public testing::Test {
  protected:
    void SetUp() override {
        pk_ = PkPath();
        ASSERT_EQ(0, access(pk_.c_str(), X_OK)) << "pk binary not found at " << pk_;
        ASSERT_FALSE(tmp_.path().empty());
    }

    void TearDown() override {
        for (const auto& id : tracked_)
            pktest::KillIfAlive(id);
        for (pid_t p : started_) {
            int status;
            if (waitpid(p, &status, WNOHANG) == p)
                ADD_FAILURE() << "unreaped child " << p << " at teardown";
        }
        for (pid_t p : pktest::Children())
            ADD_FAILURE() << "child " << p << " still there at teardown";
        for (pid_t pk : started_)
            for (const auto& leaf : LeavesOf(pk)) {
                ADD_FAILURE() << "cgroup left behind at teardown: " << leaf;
                RemoveLeaf(leaf);
            }
    }

    // Starts `pk timeout ARGS` (or GNU `timeout ARGS`).
    Running Start(const std::vector<std::string>& args, const RunOpts& opts = RunOpts()) {
        Running r;
        std::vector<std::string> argv_s;
        std::string path = opts.gnu ? GnuTimeout() : pk_;
        if (opts.gnu)
            argv_s = {"timeout"};  // GNU names itself by argv[0]
        else if (opts.raw)
            argv_s = {pk_};
        else
            argv_s = {pk_, "timeout"};
        argv_s.insert(argv_s.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& a : argv_s)
            argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        // GNU's quotes are ASCII in the C locale, as pk's always are.
        std::vector<std::string> env_s;
        for (char** e = environ; *e; e++)
            if (strncmp(*e, "LC_", 3) != 0 && strncmp(*e, "LANG", 4) != 0)
                env_s.push_back(*e);
        env_s.push_back("LC_ALL=C");
        std::vector<char*> envp;
        for (auto& e : env_s)
            envp.push_back(const_cast<char*>(e.c_str()));
        envp.push_back(nullptr);

        int in = open(opts.stdin_path.c_str(), O_RDONLY | O_CLOEXEC);
        int out[2], err[2];
        if (in < 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
            ADD_FAILURE() << "cannot set up stdio";
            return r;
        }
        if (opts.stdout_closed) {
            close(out[0]);
            out[0] = -1;
        }
        if (opts.stderr_closed) {
            close(err[0]);
            err[0] = -1;
        }
        r.start = Clock::now();
        pid_t pid = fork();
        if (pid == 0) {
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, nullptr);
            struct sigaction act;
            memset(&act, 0, sizeof act);
            for (int s = 1; s < NSIG; s++) {
                if (s == SIGKILL || s == SIGSTOP)
                    continue;
                act.sa_handler = SIG_DFL;
                for (int ign : opts.ignored)
                    if (ign == s)
                        act.sa_handler = SIG_IGN;
                sigaction(s, &act, nullptr);
            }
            struct rlimit no_core = {0, 0};
            setrlimit(RLIMIT_CORE, &no_core);
            if (dup2(in, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
                _exit(99);
            if (opts.fd3 >= 0 && (opts.fd3 == 3 ? fcntl(3, F_SETFD, 0) : dup2(opts.fd3, 3)) < 0)
                _exit(99);
            execve(path.c_str(), argv.data(), envp.data());
            _exit(98);
        }
        close(in);
        close(out[1]);
        close(err[1]);
        if (pid < 0) {
            ADD_FAILURE() << "fork failed";
            return r;
        }
        r.pid = pid;
        r.out_fd = out[0];
        r.err_fd = err[0];
        started_.push_back(pid);
        return r;
    }

    static void Pump(Running* r, int wait_ms) {
        struct pollfd fds[2];
        int n = 0;
        if (r->out_fd >= 0)
            fds[n++] = {r->out_fd, POLLIN, 0};
        if (r->err_fd >= 0)
            fds[n++] = {r->err_fd, POLLIN, 0};
        if (n == 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
            return;
        }
        if (poll(fds, n, wait_ms) <= 0)
            return;
        for (int i = 0; i < n; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            bool is_out = fds[i].fd == r->out_fd;
            char buf[65536];
            ssize_t got = read(fds[i].fd, buf, sizeof buf);
            if (got > 0) {
                (is_out ? r->out : r->err).append(buf, static_cast<size_t>(got));
            } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
                close(fds[i].fd);
                (is_out ? r->out_fd : r->err_fd) = -1;
            }
        }
    }

    static bool WaitForStdout(Running* r, const std::string& needle, int timeout_ms = kRunMs) {
        auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
        while (!Contains(r->out, needle)) {
            if (Clock::now() >= end || r->out_fd < 0)
                return Contains(r->out, needle);
            Pump(r, 20);
        }
        return true;
    }

    // Collects the output and status. A run that overruns timeout_ms is
    // SIGKILLed (a failure). With drain, a descendant still holding stdout or
    // stderr kDrainMs after the exit is a failure (pass false where one is
    // meant to outlive it). No cgroup of the run may remain.
    Result Finish(Running* r, int timeout_ms = kRunMs, bool drain = true) {
        Result res;
        res.pid = r->pid;
        if (r->pid <= 0)
            return res;
        auto deadline = r->start + std::chrono::milliseconds(timeout_ms);
        Clock::time_point reaped_at;
        bool killed = false;
        for (;;) {
            Pump(r, 10);
            if (!res.reaped && waitpid(r->pid, &res.status, WNOHANG) == r->pid) {
                res.reaped = true;
                reaped_at = Clock::now();
                res.elapsed_ms = MsSince(r->start);
            }
            if (res.reaped && ((r->out_fd < 0 && r->err_fd < 0) || !drain))
                break;
            if (res.reaped && MsSince(reaped_at) > kDrainMs) {
                ADD_FAILURE() << "exited, but something still holds its stdout/stderr " << kDrainMs
                              << " ms later: a descendant outlived it";
                break;
            }
            if (!res.reaped && !killed && Clock::now() >= deadline) {
                ADD_FAILURE() << "pid " << r->pid << " still running after " << timeout_ms << " ms; killing it";
                kill(r->pid, SIGKILL);
                killed = true;
            }
        }
        if (!drain)
            Pump(r, 50);
        if (r->out_fd >= 0)
            close(r->out_fd);
        if (r->err_fd >= 0)
            close(r->err_fd);
        r->out_fd = r->err_fd = -1;
        res.out = r->out;
        res.err = r->err;
        if (WIFEXITED(res.status))
            res.code = WEXITSTATUS(res.status);
        else if (WIFSIGNALED(res.status))
            res.signal = WTERMSIG(res.status);
        // A SIGKILLed pk's keeper removes its cgroups soon after the tree is gone.
        auto gone_by = Clock::now() + std::chrono::seconds(5);
        while (!LeavesOf(r->pid).empty() && Clock::now() < gone_by)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        for (const auto& leaf : LeavesOf(r->pid)) {
            ADD_FAILURE() << "pid " << r->pid << " left a cgroup behind: " << leaf;
            RemoveLeaf(leaf);
        }
        return res;
    }

    Result Run(const std::vector<std::string>& args, const RunOpts& opts = RunOpts()) {
        Running r = Start(args, opts);
        return Finish(&r);
    }

    Result RunGnu(const std::vector<std::string>& args, RunOpts opts = RunOpts()) {
        opts.gnu = true;
        return Run(args, opts);
    }

    pktest::ProcId TrackPidFile(const std::string& path) {
        pid_t pid = pktest::ReadPidFile(path, kRunMs);
        pktest::ProcId id = pktest::Identify(pid);
        if (id.start_time)
            tracked_.push_back(id);
        return id;
    }

    // A script that leaves descendants of every kind and then runs BODY:
    // S calls setsid, D was double-forked (its parent exited), B is a plain
    // background child; each ignores TERM when asked. It writes their pids
    // (and its own, M) to files in a fresh directory and prints "ready".
    struct Tree {
        std::string dir;
        pktest::ProcId main, setsid, doubled, background;
    };
    std::string TreeScript(const std::string& dir, bool ignore_term, const std::string& body) {
        std::string trap = ignore_term ? "trap '' TERM; " : "";
        return trap + "echo $$ > " + dir + "/M; " + "setsid sh -c \"" + trap + "echo \\$\\$ > " + dir +
               "/S; exec sleep 30\" & " + "sh -c \"" + trap + "sleep 30 & echo \\$! > " + dir + "/D\"; " + "(" +
               trap + "exec sleep 30) & echo $! > " + dir + "/B; " + "echo ready; " + body;
    }
    Tree ReadTree(const std::string& dir) {
        Tree t;
        t.dir = dir;
        t.main = TrackPidFile(dir + "/M");
        t.setsid = TrackPidFile(dir + "/S");
        t.doubled = TrackPidFile(dir + "/D");
        t.background = TrackPidFile(dir + "/B");
        EXPECT_TRUE(pktest::Alive(t.setsid)) << "setsid descendant not running";
        EXPECT_TRUE(pktest::Alive(t.doubled)) << "double-forked descendant not running";
        EXPECT_TRUE(pktest::Alive(t.background)) << "background child not running";
        return t;
    }
    std::string NewDir(const std::string& name) {
        std::string d = tmp_.File(name);
        mkdir(d.c_str(), 0755);
        return d;
    }
    void ExpectTreeDead(const Tree& t) {
        EXPECT_TRUE(pktest::WaitDead(t.main, 3000)) << "the command outlived pk timeout";
        EXPECT_TRUE(pktest::WaitDead(t.background, 3000)) << "a background child outlived pk timeout";
        EXPECT_TRUE(pktest::WaitDead(t.doubled, 3000)) << "a double-forked descendant outlived pk timeout";
        if (HostHasCgroups())
            EXPECT_TRUE(pktest::WaitDead(t.setsid, 3000)) << "a setsid descendant outlived pk timeout";
    }

    // A pk timeout error: 125 and a "pk timeout: ..." message.
    static void ExpectUsageError(const Result& r) {
        EXPECT_EQ(125, r.code) << Describe(r);
        EXPECT_EQ(0u, r.err.rfind("pk timeout: ", 0)) << Describe(r);
        EXPECT_TRUE(Contains(r.err, "\n")) << r.err;
    }

    std::string pk_;
    pktest::TempDir tmp_;
    std::vector<pid_t> started_;
    std::vector<pktest::ProcId> tracked_;
};

std::string Shown(const std::vector<std::string>& args) {
    std::string s;
    for (const auto& a : args)
        s += "'" + a + "' ";
    return s;
}

// ------------------------------------------------------------ exit statuses

TEST_F(TimeoutTest, ExitsWithTheCommandsStatus) {
    Result r = Run({"5", "true"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ("", r.err);
    r = Run({"5", "sh", "-c", "exit 3"});
    EXPECT_EQ(3, r.code) << Describe(r);
    r = Run({"5", "sh", "-c", "exit 255"});
    EXPECT_EQ(255, r.code) << Describe(r);
    r = Run({"5", "sh", "-c", "echo out; echo err >&2"});
    EXPECT_EQ("out\n", r.out);
    EXPECT_EQ("err\n", r.err);
}

TEST_F(TimeoutTest, OptionParsingStopsAtDuration) {
    // COMMAND's own options, even ones pk timeout knows, are passed through.
    const std::string echo_args = "printf '%s,' \"$@\"";
    Result r = Run({"-v", "5", "sh", "-c", echo_args, "sh", "-k", "1", "-s", "KILL", "--foreground", "-v", "--"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ("-k,1,-s,KILL,--foreground,-v,--,", r.out);
    // "--" ends the options; DURATION follows.
    r = Run({"--", "5", "sh", "-c", "exit 6"});
    EXPECT_EQ(6, r.code) << Describe(r);
    // Bundled short options with attached or separate values, long ones with
    // "=" or a separate value, and unambiguous prefixes.
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"-vs", "INT", "0.2", "sleep", "10"},
             {"-vsINT", "0.2", "sleep", "10"},
             {"-v", "-k1", "-sINT", "0.2", "sleep", "10"},
             {"--signal=INT", "--kill-after", "1", "--verbose", "0.2", "sleep", "10"},
             {"--sig", "INT", "--kill=1", "--verb", "0.2", "sleep", "10"},
         }) {
        SCOPED_TRACE(Shown(args));
        r = Run(args);
        EXPECT_EQ(124, r.code) << Describe(r);
        EXPECT_TRUE(Contains(r.err, "sending signal INT to command 'sleep'")) << r.err;
    }
}

TEST_F(TimeoutTest, TimeoutExits124Promptly) {
    Result r = Run({"0.2", "sleep", "10"});
    EXPECT_EQ(124, r.code) << Describe(r);
    EXPECT_GE(r.elapsed_ms, 150);
    EXPECT_LT(r.elapsed_ms, 5000) << "the timeout did not cut sleep 10 short";
    EXPECT_EQ("", r.err);
    if (!GnuTimeout().empty()) {
        Result g = RunGnu({"0.2", "sleep", "10"});
        EXPECT_EQ(g.Shell(), r.Shell()) << Describe(g);
    }
}

TEST_F(TimeoutTest, DurationForms) {
    // Suffixes, exponents and hex floats, each about 0.3 s.
    for (const char* d : {"0.3", "0.3s", ".3", "3e-1", "300e-3s", "0x1.4p-2", "0.005m", "0.0001h", "0.000004d"}) {
        SCOPED_TRACE(d);
        Result r = Run({d, "sleep", "10"});
        EXPECT_EQ(124, r.code) << Describe(r);
        EXPECT_GE(r.elapsed_ms, 250) << "fired early";
        EXPECT_LT(r.elapsed_ms, 5000) << "did not fire";
    }
    // A tiny duration is the smallest step, not zero (which would disable it).
    for (const char* d : {"1e-9", "1e-300", "1e-400", "0x1p-1074"}) {
        SCOPED_TRACE(d);
        Result r = Run({d, "sleep", "10"});
        EXPECT_EQ(124, r.code) << Describe(r);
        EXPECT_LT(r.elapsed_ms, 5000);
    }
}

TEST_F(TimeoutTest, ZeroDisablesTheTimeout) {
    for (const char* d : {"0", "0s", "0.0m", "0x0", "0e5d", "-0"}) {
        SCOPED_TRACE(d);
        Result r = Run({"--", d, "sh", "-c", "sleep 0.4; exit 4"});
        EXPECT_EQ(4, r.code) << Describe(r);
        EXPECT_GE(r.elapsed_ms, 350);
    }
    // -k 0 is no kill: TERM alone, then the command's own end.
    Result r = Run({"-k", "0", "0.2", "sh", "-c", "trap 'sleep 0.5; exit 0' TERM; sleep 10 & wait"});
    EXPECT_EQ(124, r.code) << Describe(r);
    EXPECT_GE(r.elapsed_ms, 600) << "something killed the command before its TERM trap ended";
}

TEST_F(TimeoutTest, HugeDurationsSaturate) {
    for (const char* d : {"1e999", "inf", "INFINITY", "99999999999999999999d", "1.8e308h", "0x1p1023d"}) {
        SCOPED_TRACE(d);
        Result r = Run({"-k", d, d, "sh", "-c", "exit 5"});
        EXPECT_EQ(5, r.code) << Describe(r);
        EXPECT_EQ("", r.err);
    }
}

TEST_F(TimeoutTest, BadDurationsExit125AndRunNothing) {
    const std::string marker = tmp_.File("ran");
    const std::vector<std::string> bad = {"-1", "-0.5s", "-1e-400", "abc", "1x", "", " ", "5 ", "1ss", "s",
                                          ".", "nan", "-inf", "1e", "0x", "1S", "+", "1m1", "5sec", "1,5"};
    for (const auto& d : bad) {
        for (int as_kill = 0; as_kill < 2; as_kill++) {
            std::vector<std::string> args = as_kill ? std::vector<std::string>{"-k", d, "5"}
                                                    : std::vector<std::string>{"--", d};
            args.insert(args.end(), {"sh", "-c", "touch " + marker});
            SCOPED_TRACE(Shown(args));
            Result r = Run(args);
            ExpectUsageError(r);
            EXPECT_TRUE(Contains(r.err, "invalid time interval")) << r.err;
            EXPECT_FALSE(PathExists(marker)) << "the command ran despite the error";
            unlink(marker.c_str());
            // GNU refuses the same (it takes "-1e-400" for zero: pk refuses a negative).
            if (!GnuTimeout().empty() && d != "-1e-400") {
                Result g = RunGnu(args);
                EXPECT_EQ(125, g.code) << Describe(g);
                unlink(marker.c_str());
            }
        }
    }
}

TEST_F(TimeoutTest, UsageErrorsExit125) {
    const std::vector<std::vector<std::string>> cases = {
        {},
        {"5"},
        {"-x", "5", "true"},
        {"--bogus", "5", "true"},
        {"--v", "5", "true"},  // --verbose or --version
        {"--foreground=1", "5", "true"},
        {"--preserve-status=yes", "5", "true"},
        {"-k"},
        {"--kill-after"},
        {"-s"},
        {"--signal"},
        {"-s", "FOO", "5", "true"},
        {"-s", "SIG", "5", "true"},
        {"-s", "65", "5", "true"},
        {"-s", "-1", "5", "true"},
        {"-s", "+15", "5", "true"},
        {"-s", " 15", "5", "true"},
        {"-s", "", "5", "true"},
        {"-s", "RTMAX+1", "5", "true"},
        {"-s", "RTMIN-1", "5", "true"},
        {"-s", "RTMIN+99", "5", "true"},
        {"-s", "1x", "5", "true"},
        {"-s", "255", "5", "true"},
    };
    for (const auto& args : cases) {
        SCOPED_TRACE(Shown(args));
        ExpectUsageError(Run(args));
        if (!GnuTimeout().empty()) {
            Result g = RunGnu(args);
            EXPECT_EQ(125, g.code) << Describe(g);
        }
    }
}

TEST_F(TimeoutTest, HelpAndVersion) {
    Result r = Run({"--help"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ(0u, r.out.rfind("usage: pk timeout", 0)) << r.out;
    for (const char* opt : {"--signal", "--kill-after", "--preserve-status", "--foreground", "--no-tree", "--verbose"})
        EXPECT_TRUE(Contains(r.out, opt)) << opt;
    r = Run({"--version"});
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ(0u, r.out.rfind("pk timeout (processkit) ", 0)) << r.out;
    // --help acts where it stands: after other options, before DURATION, abbreviated.
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"-v", "--help"}, {"--help", "5", "sleep", "10"}, {"--he"}, {"--help", "-x"}}) {
        SCOPED_TRACE(Shown(args));
        r = Run(args);
        EXPECT_EQ(0, r.code) << Describe(r);
        EXPECT_LT(r.elapsed_ms, 5000);
        EXPECT_TRUE(Contains(r.out, "usage: pk timeout")) << r.out;
    }
    // After DURATION it is COMMAND.
    r = Run({"5", "--help"});
    EXPECT_EQ(127, r.code) << Describe(r);
    // pk's own usage lists the subcommand.
    RunOpts raw;
    raw.raw = true;
    r = Run({"--help"}, raw);
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_TRUE(Contains(r.out, "pk timeout [OPTION]... DURATION COMMAND")) << r.out;
}

TEST_F(TimeoutTest, NotFoundExits127NotExecutable126) {
    for (const std::string& prog : {std::string("pktest-no-such-program"), tmp_.File("missing")}) {
        SCOPED_TRACE(prog);
        Result r = Run({"5", prog, "arg"});
        EXPECT_EQ(127, r.code) << Describe(r);
        EXPECT_TRUE(Contains(r.err, "pk timeout: cannot run command '" + prog + "'")) << r.err;
        if (!GnuTimeout().empty())
            EXPECT_EQ(127, RunGnu({"5", prog}).code);
    }
    const std::string script = tmp_.File("script.sh");
    ASSERT_TRUE(WriteFile(script, "#!/bin/sh\nexit 0\n", 0644));
    for (const std::string& prog : {std::string("/etc/passwd"), script, tmp_.path()}) {
        SCOPED_TRACE(prog);
        Result r = Run({"5", prog});
        EXPECT_EQ(126, r.code) << Describe(r);
        EXPECT_TRUE(Contains(r.err, "pk timeout: cannot run command")) << r.err;
        if (!GnuTimeout().empty())
            EXPECT_EQ(126, RunGnu({"5", prog}).code);
    }
}

TEST_F(TimeoutTest, CommandKilledBySignalIsPassedOnAsGnuDoes) {
    // Not a timeout: pk timeout dies of the same signal, so its parent sees
    // what it would have seen of the command itself (a shell: 128+N).
    for (int sig : {SIGUSR1, SIGTERM, SIGKILL, SIGINT, SIGQUIT}) {
        SCOPED_TRACE(sig);
        std::vector<std::string> args = {"5", "sh", "-c", "kill -" + std::to_string(sig) + " $$"};
        Result r = Run(args);
        EXPECT_EQ(sig, r.signal) << Describe(r);
        EXPECT_EQ(128 + sig, r.Shell());
        if (!GnuTimeout().empty()) {
            Result g = RunGnu(args);
            EXPECT_EQ(g.status, r.status) << "GNU: " << Describe(g);
        }
    }
}

// ------------------------------------------------------------------ --signal

TEST_F(TimeoutTest, SignalOptionNamesAndNumbers) {
    const std::string script = "trap 'echo got-INT; exit 0' INT; sleep 10 & wait";
    for (const char* s : {"INT", "SIGINT", "int", "SigInt", "2", "130", "SIG2"}) {
        SCOPED_TRACE(s);
        Result r = Run({"-s", s, "0.2", "sh", "-c", script});
        EXPECT_EQ(124, r.code) << Describe(r);
        EXPECT_EQ("got-INT\n", r.out);
    }
    // Real-time signals by name; --preserve-status shows which one arrived.
    Result r = Run({"--preserve-status", "-s", "RTMIN+1", "0.2", "sleep", "10"});
    EXPECT_EQ(128 + SIGRTMIN + 1, r.code) << Describe(r);
    r = Run({"--preserve-status", "-s", "rtmax-2", "0.2", "sleep", "10"});
    EXPECT_EQ(128 + SIGRTMAX - 2, r.code) << Describe(r);
    r = Run({"--preserve-status", "--signal=HUP", "0.2", "sleep", "10"});
    EXPECT_EQ(128 + SIGHUP, r.code) << Describe(r);
}

TEST_F(TimeoutTest, SignalZeroSendsNothing) {
    // The null signal: the command runs on to its end; it still timed out.
    Result r = Run({"-s", "0", "0.2", "sh", "-c", "sleep 1; exit 5"});
    EXPECT_EQ(124, r.code) << Describe(r);
    EXPECT_GE(r.elapsed_ms, 900) << "the command was stopped";
    r = Run({"--preserve-status", "-s", "EXIT", "0.2", "sh", "-c", "sleep 1; exit 5"});
    EXPECT_EQ(5, r.code) << Describe(r);
    // With -k, the KILL comes -k after the (null) signal.
    r = Run({"-s", "0", "-k", "0.3", "0.2", "sleep", "10"});
    EXPECT_EQ(124, r.code) << Describe(r);
    EXPECT_GE(r.elapsed_ms, 450);
    EXPECT_LT(r.elapsed_ms, 5000);
    if (!GnuTimeout().empty()) {
        Result g = RunGnu({"-s", "0", "0.2", "sh", "-c", "sleep 1; exit 5"});
        EXPECT_EQ(124, g.code) << Describe(g);
    }
}

TEST_F(TimeoutTest, SignalKillOnTimeoutIs124) {
    // pk timeout says 124 whenever the time ran out; GNU reports 137 here.
    Result r = Run({"-s", "KILL", "0.2", "sleep", "10"});
    EXPECT_EQ(124, r.code) << Describe(r);
    r = Run({"-s", "9", "--preserve-status", "0.2", "sleep", "10"});
    EXPECT_EQ(137, r.code) << Describe(r);
}

// ------------------------------------------------------------------ --verbose

TEST_F(TimeoutTest, VerboseLinesMatchGnusFormat) {
    Result r = Run({"-v", "0.2", "sleep", "10"});
    EXPECT_EQ(124, r.code) << Describe(r);
    std::vector<std::string> lines = Lines(r.err);
    ASSERT_EQ(1u, lines.size()) << r.err;
    const std::string gnu_line = "timeout: sending signal TERM to command 'sleep'";
    EXPECT_EQ(0u, lines[0].rfind("pk " + gnu_line, 0)) << lines[0];
    // The mechanism is named after GNU's words.
    EXPECT_TRUE(Contains(lines[0], HostHasCgroups() ? "(whole tree, cgroup-v2)" : "(whole tree, process-group)"))
        << lines[0];
    if (!GnuTimeout().empty()) {
        Result g = RunGnu({"-v", "0.2", "sleep", "10"});
        EXPECT_EQ(gnu_line + "\n", g.err);
    }
    // With -k: the signal, then KILL.
    r = Run({"-v", "-s", "INT", "-k", "0.2", "0.2", "sh", "-c", "trap '' INT; sleep 10"});
    EXPECT_EQ(124, r.code) << Describe(r);
    lines = Lines(r.err);
    ASSERT_EQ(2u, lines.size()) << r.err;
    EXPECT_EQ(0u, lines[0].rfind("pk timeout: sending signal INT to command 'sh'", 0)) << lines[0];
    EXPECT_EQ(0u, lines[1].rfind("pk timeout: sending signal KILL to command 'sh'", 0)) << lines[1];
    // --no-tree and --foreground say where the signal went.
    r = Run({"-v", "--no-tree", "0.2", "sleep", "10"});
    EXPECT_TRUE(Contains(r.err, "to command 'sleep' (its process group)")) << r.err;
    r = Run({"-v", "--foreground", "0.2", "sleep", "10"});
    EXPECT_TRUE(Contains(r.err, "to command 'sleep' (the command alone")) << r.err;
    // Signal numbers print as names; awkward command names are quoted.
    r = Run({"-v", "-s", "35", "0.2", "sleep", "10"});
    EXPECT_TRUE(Contains(r.err, "sending signal RTMIN+1 to command")) << r.err;
    const std::string odd = tmp_.File("it's");
    ASSERT_EQ(0, symlink(access("/usr/bin/sleep", X_OK) == 0 ? "/usr/bin/sleep" : "/bin/sleep", odd.c_str()));
    r = Run({"-v", "0.2", odd, "10"});
    EXPECT_EQ(124, r.code) << Describe(r);
    EXPECT_TRUE(Contains(r.err, "it\\'s'")) << r.err;
}

// ------------------------------------------------------------ -k, and trees

TEST_F(TimeoutTest, KillAfterTakesDownATermIgnoringTree) {
    const std::string dir = NewDir("k");
    Running run = Start({"-k", "0.3", "0.2", "sh", "-c", TreeScript(dir, true, "while :; do sleep 0.05; done")});
    ASSERT_TRUE(WaitForStdout(&run, "ready\n"));
    Tree t = ReadTree(dir);
    Result r = Finish(&run);
    EXPECT_EQ(124, r.code) << "the time ran out, and a kill was needed: still 124\n" << Describe(r);
    EXPECT_GE(r.elapsed_ms, 450) << "the KILL came before -k had passed";
    EXPECT_LT(r.elapsed_ms, 5000);
    ExpectTreeDead(t);
    // --preserve-status: the command's own status, KILL.
    const std::string dir2 = NewDir("k2");
    run = Start({"--preserve-status", "-k", "0.3", "0.2", "sh", "-c", TreeScript(dir2, true, "sleep 30")});
    ASSERT_TRUE(WaitForStdout(&run, "ready\n"));
    t = ReadTree(dir2);
    r = Finish(&run);
    EXPECT_EQ(128 + SIGKILL, r.code) << Describe(r);
    ExpectTreeDead(t);
}

TEST_F(TimeoutTest, TimeoutTakesDownTheWholeTree) {
    // Descendants that called setsid or were double-forked die with the command.
    const std::string dir = NewDir("t");
    Running run = Start({"0.5", "sh", "-c", TreeScript(dir, false, "sleep 30")});
    ASSERT_TRUE(WaitForStdout(&run, "ready\n"));
    Tree t = ReadTree(dir);
    Result r = Finish(&run);
    EXPECT_EQ(124, r.code) << Describe(r);
    ExpectTreeDead(t);
    // When the command ends by itself, what it left running goes too.
    const std::string dir2 = NewDir("t2");
    run = Start(
        {"30", "sh", "-c", TreeScript(dir2, true, "while [ ! -e " + dir2 + "/go ]; do sleep 0.02; done; exit 3")});
    ASSERT_TRUE(WaitForStdout(&run, "ready\n"));
    t = ReadTree(dir2);
    ASSERT_TRUE(WriteFile(dir2 + "/go", ""));
    r = Finish(&run);
    EXPECT_EQ(3, r.code) << Describe(r);
    EXPECT_LT(r.elapsed_ms, 10000) << "pk timeout waited for the descendants";
    ExpectTreeDead(t);
}

TEST_F(TimeoutTest, SigkillOfPkTimeoutTakesDownTheTree) {
    if (!HostHasCgroups())
        GTEST_SKIP() << "no cgroup v2 here: only the keeper of a cgroup group outlives a SIGKILLed pk";
    const std::string dir = NewDir("sk");
    Running run = Start({"30", "sh", "-c", TreeScript(dir, true, "while :; do sleep 0.05; done")});
    ASSERT_TRUE(WaitForStdout(&run, "ready\n"));
    Tree t = ReadTree(dir);
    ASSERT_EQ(0, kill(run.pid, SIGKILL));
    Result r = Finish(&run);
    EXPECT_EQ(SIGKILL, r.signal) << Describe(r);
    ExpectTreeDead(t);
    EXPECT_TRUE(pktest::WaitDead(t.setsid, 3000));
}

TEST_F(TimeoutTest, PreserveStatus) {
    Result r = Run({"--preserve-status", "0.2", "sleep", "10"});
    EXPECT_EQ(128 + SIGTERM, r.code) << Describe(r);
    r = Run({"--preserve-status", "0.2", "sh", "-c", "trap 'exit 7' TERM; sleep 10 & wait"});
    EXPECT_EQ(7, r.code) << Describe(r);
    r = Run({"--preserve-status", "5", "sh", "-c", "exit 9"});
    EXPECT_EQ(9, r.code) << Describe(r);
    // Without it, a command that handles the TERM and exits 0 still timed out.
    r = Run({"0.2", "sh", "-c", "trap 'exit 0' TERM; sleep 10 & wait"});
    EXPECT_EQ(124, r.code) << Describe(r);
    if (!GnuTimeout().empty()) {
        EXPECT_EQ(143, RunGnu({"--preserve-status", "0.2", "sleep", "10"}).code);
        EXPECT_EQ(7, RunGnu({"--preserve-status", "0.2", "sh", "-c", "trap 'exit 7' TERM; sleep 10 & wait"}).code);
    }
}

// ------------------------------------------------------------------- signals

TEST_F(TimeoutTest, SignalsToPkTimeoutArePassedOn) {
    const struct {
        int sig;
        const char* name;
    } cases[] = {{SIGTERM, "TERM"}, {SIGINT, "INT"},   {SIGHUP, "HUP"},   {SIGQUIT, "QUIT"},
                 {SIGUSR1, "USR1"}, {SIGUSR2, "USR2"}, {SIGPIPE, "PIPE"}, {SIGXCPU, "XCPU"}};
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const std::string dir = NewDir(std::string("sig-") + c.name);
        // The trap is set before "ready" (a signal before it would just kill sh).
        std::string trap = std::string("trap 'echo got-") + c.name + "; exit 7' " + c.name + "; ";
        Running run = Start({"-v", "30", "sh", "-c", trap + TreeScript(dir, false, "while :; do sleep 0.05; done")});
        ASSERT_TRUE(WaitForStdout(&run, "ready\n"));
        Tree t = ReadTree(dir);
        auto sent = Clock::now();
        ASSERT_EQ(0, kill(run.pid, c.sig));
        Result r = Finish(&run);
        EXPECT_EQ(7, r.code) << Describe(r);
        EXPECT_TRUE(Contains(r.out, std::string("got-") + c.name)) << r.out;
        EXPECT_TRUE(Contains(r.err, std::string("sending signal ") + c.name + " to command 'sh'")) << r.err;
        EXPECT_LT(MsSince(sent), 5000);
        ExpectTreeDead(t);
    }
}

TEST_F(TimeoutTest, AlrmIsTheTimeoutExpiringNow) {
    Running run = Start({"-v", "30", "sh", "-c", "echo ready; sleep 30"});
    ASSERT_TRUE(WaitForStdout(&run, "ready\n"));
    ASSERT_EQ(0, kill(run.pid, SIGALRM));
    Result r = Finish(&run);
    EXPECT_EQ(124, r.code) << Describe(r);
    EXPECT_LT(r.elapsed_ms, 10000);
    EXPECT_TRUE(Contains(r.err, "sending signal TERM to command 'sh'")) << r.err;
}

TEST_F(TimeoutTest, KillAfterAlsoFollowsAPassedOnSignal) {
    const std::string dir = NewDir("kf");
    Running run = Start({"-k", "0.3", "30", "sh", "-c", TreeScript(dir, true, "while :; do sleep 0.05; done")});
    ASSERT_TRUE(WaitForStdout(&run, "ready\n"));
    Tree t = ReadTree(dir);
    auto sent = Clock::now();
    ASSERT_EQ(0, kill(run.pid, SIGTERM));
    Result r = Finish(&run);
    // Not a timeout: the command died of KILL, and so does pk timeout (as GNU's).
    EXPECT_EQ(SIGKILL, r.signal) << Describe(r);
    EXPECT_GE(MsSince(sent), 250);
    EXPECT_LT(MsSince(sent), 5000);
    ExpectTreeDead(t);
}

TEST_F(TimeoutTest, IgnoredSignalsStayIgnored) {
    RunOpts o;
    o.ignored = {SIGHUP, SIGPIPE, SIGUSR1};
    // COMMAND inherits them ignored (SigIgn, a hex mask of signals 1..64).
    Result r = Run({"5", "sh", "-c", "grep SigIgn /proc/self/status"}, o);
    ASSERT_EQ(0, r.code) << Describe(r);
    unsigned long long mask = strtoull(r.out.substr(r.out.find(':') + 1).c_str(), nullptr, 16);
    for (int sig : {SIGHUP, SIGPIPE, SIGUSR1})
        EXPECT_TRUE(mask & (1ull << (sig - 1))) << "signal " << sig << " not ignored in the command: " << r.out;
    // Not so without it.
    r = Run({"5", "sh", "-c", "grep SigIgn /proc/self/status"});
    mask = strtoull(r.out.substr(r.out.find(':') + 1).c_str(), nullptr, 16);
    EXPECT_FALSE(mask & (1ull << (SIGHUP - 1))) << r.out;
    EXPECT_FALSE(mask & (1ull << (SIGPIPE - 1))) << r.out;
    // The command survives its own HUP; pk timeout ignores one too.
    Running run = Start({"30", "sh", "-c", "kill -HUP $$; echo survived; sleep 0.5; exit 3"}, o);
    ASSERT_TRUE(WaitForStdout(&run, "survived\n"));
    ASSERT_EQ(0, kill(run.pid, SIGHUP));
    r = Finish(&run);
    EXPECT_EQ(3, r.code) << Describe(r);
}

TEST_F(TimeoutTest, ClosedStderrPipeDoesNotKillPkTimeout) {
    // --verbose writes to a stderr nobody reads: pk timeout gets EPIPE (and a
    // SIGPIPE of its own, which it neither dies of nor passes on), and still
    // takes the tree down.
    RunOpts o;
    o.stderr_closed = true;
    const std::string dir = NewDir("pipe");
    Running run = Start({"-v", "-k", "0.5", "0.3", "sh", "-c",
                         "trap 'echo got-PIPE' PIPE; " + TreeScript(dir, true, "while :; do sleep 0.05; done")},
                        o);
    ASSERT_TRUE(WaitForStdout(&run, "ready\n"));
    Tree t = ReadTree(dir);
    Result r = Finish(&run);
    EXPECT_EQ(124, r.code) << Describe(r);
    EXPECT_GE(r.elapsed_ms, 700) << "the tree went before the KILL";
    EXPECT_FALSE(Contains(r.out, "got-PIPE")) << "pk timeout passed its own SIGPIPE on";
    ExpectTreeDead(t);
}

TEST_F(TimeoutTest, CommandDyingOfSigpipeLeavesNoTree) {
    // stdout is a closed pipe: the command dies of SIGPIPE, pk timeout passes
    // that on (as GNU's does), and the tree goes first, unlike under GNU.
    for (bool gnu : {false, true}) {
        if (gnu && GnuTimeout().empty())
            continue;
        SCOPED_TRACE(gnu ? "GNU" : "pk");
        RunOpts o;
        o.stdout_closed = true;
        o.gnu = gnu;
        const std::string dir = NewDir(gnu ? "gyes" : "yes");
        std::string script = "setsid sh -c 'echo $$ > " + dir + "/S; exec sleep 30' & sleep 0.2; exec yes";
        Running run = Start({"30", "sh", "-c", script}, o);
        pktest::ProcId s = TrackPidFile(dir + "/S");
        Result r = Finish(&run, kRunMs, !gnu && HostHasCgroups());
        EXPECT_EQ(SIGPIPE, r.signal) << Describe(r);
        if (gnu)
            EXPECT_TRUE(pktest::Alive(s)) << "GNU's tree is expected to outlive it (killed at teardown)";
        else if (HostHasCgroups())
            EXPECT_TRUE(pktest::WaitDead(s, 3000)) << "the setsid descendant outlived pk timeout";
    }
}

TEST_F(TimeoutTest, InheritedFdsReachTheCommand) {
    const std::string path = tmp_.File("fd3");
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    RunOpts o;
    o.fd3 = fd;
    Result r = Run({"5", "sh", "-c", "echo via-fd3 >&3"}, o);
    close(fd);
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_EQ("via-fd3\n", ReadText(path));
}

// -------------------------------------------------------- --no-tree and GNU

TEST_F(TimeoutTest, NoTreeSignalsTheProcessGroupOnly) {
    const std::string dir = NewDir("nt");
    Running run = Start({"--no-tree", "0.5", "sh", "-c", TreeScript(dir, false, "sleep 30")});
    ASSERT_TRUE(WaitForStdout(&run, "ready\n"));
    Tree t = ReadTree(dir);
    EXPECT_EQ(t.main.pid, PgrpOf(t.main.pid)) << "the command does not lead a process group";
    EXPECT_TRUE(LeavesOf(run.pid).empty()) << "--no-tree made a cgroup";
    Result r = Finish(&run, kRunMs, false);
    EXPECT_EQ(124, r.code) << Describe(r);
    // The command and its group got TERM; what left the group did not.
    EXPECT_TRUE(pktest::WaitDead(t.main, 3000));
    EXPECT_TRUE(pktest::WaitDead(t.background, 3000));
    EXPECT_TRUE(pktest::WaitDead(t.doubled, 3000)) << "the double-forked sleep kept the process group";
    EXPECT_TRUE(pktest::Alive(t.setsid)) << "GNU's behaviour leaves a setsid descendant running";
    // Nor does the end of the command take the rest along.
    const std::string dir2 = NewDir("nt2");
    run = Start({"--no-tree", "30", "sh", "-c",
                 TreeScript(dir2, false, "while [ ! -e " + dir2 + "/go ]; do sleep 0.02; done; exit 0")});
    ASSERT_TRUE(WaitForStdout(&run, "ready\n"));
    t = ReadTree(dir2);
    ASSERT_TRUE(WriteFile(dir2 + "/go", ""));
    r = Finish(&run, kRunMs, false);
    EXPECT_EQ(0, r.code) << Describe(r);
    EXPECT_TRUE(pktest::Alive(t.background));
    EXPECT_TRUE(pktest::Alive(t.setsid));
    if (!GnuTimeout().empty()) {
        const std::string gdir = NewDir("gnt");
        RunOpts go;
        go.gnu = true;
        Running g = Start({"0.5", "sh", "-c", TreeScript(gdir, false, "sleep 30")}, go);
        ASSERT_TRUE(WaitForStdout(&g, "ready\n"));
        Tree gt = ReadTree(gdir);
        Result gr = Finish(&g, kRunMs, false);
        EXPECT_EQ(124, gr.code) << Describe(gr);
        EXPECT_TRUE(pktest::WaitDead(gt.background, 3000));
        EXPECT_TRUE(pktest::Alive(gt.setsid));
    }
}

TEST_F(TimeoutTest, NoTreeSigkillLeavesTheCommandRunning) {
    const std::string dir = NewDir("ntk");
    Running run = Start({"--no-tree", "30", "sh", "-c", TreeScript(dir, false, "sleep 30")});
    ASSERT_TRUE(WaitForStdout(&run, "ready\n"));
    Tree t = ReadTree(dir);
    ASSERT_EQ(0, kill(run.pid, SIGKILL));
    Result r = Finish(&run, kRunMs, false);
    EXPECT_EQ(SIGKILL, r.signal);
    EXPECT_TRUE(pktest::Alive(t.main)) << "as under GNU, nothing takes the command down";
}

// ---------------------------------------------------------------- foreground

TEST_F(TimeoutTest, ProcessGroups) {
    // By default (and with --foreground) COMMAND stays in pk timeout's process
    // group (where a cgroup holds the tree); --no-tree makes it lead its own.
    struct Case {
        std::vector<std::string> opts;
        bool own;
    };
    std::vector<Case> cases = {
        {{"--foreground"}, false}, {{"--foreground", "--no-tree"}, false}, {{"--no-tree"}, true}};
    if (HostHasCgroups())
        cases.push_back({{}, false});
    for (const auto& c : cases) {
        SCOPED_TRACE(Shown(c.opts));
        std::vector<std::string> args = c.opts;
        args.insert(args.end(), {"10", "sh", "-c", "cut -d' ' -f5 /proc/$$/stat; echo $$"});
        Result r = Run(args);
        ASSERT_EQ(0, r.code) << Describe(r);
        std::vector<std::string> lines = Lines(r.out);
        ASSERT_EQ(2u, lines.size()) << r.out;
        pid_t pgrp = atoi(lines[0].c_str()), pid = atoi(lines[1].c_str());
        if (c.own)
            EXPECT_EQ(pid, pgrp);
        else
            EXPECT_EQ(getpgrp(), pgrp) << "not pk timeout's (inherited) process group";
    }
}

TEST_F(TimeoutTest, ForegroundSignalsTheCommandAlone) {
    // A background child B that records a TERM: under --foreground it gets
    // none. The command takes a moment to exit on its TERM, so B would have
    // time to record one before the tree's leftovers are killed.
    auto script = [](const std::string& dir) {
        return "sh -c \"trap 'echo x > " + dir + "/got-term; exit 0' TERM; echo \\$\\$ > " + dir +
               "/B; sleep 30 & wait\" & trap 'sleep 0.5; exit 0' TERM; while [ ! -e " + dir +
               "/B ]; do sleep 0.01; done; echo ready; sleep 30 & wait";
    };
    for (bool no_tree : {false, true}) {
        SCOPED_TRACE(no_tree ? "--foreground --no-tree" : "--foreground");
        const std::string dir = NewDir(no_tree ? "fg-nt" : "fg");
        std::vector<std::string> args = {"--foreground", "1", "sh", "-c", script(dir)};
        if (no_tree)
            args.insert(args.begin(), "--no-tree");
        Running run = Start(args);
        ASSERT_TRUE(WaitForStdout(&run, "ready\n"));
        pktest::ProcId b = TrackPidFile(dir + "/B");
        Result r = Finish(&run, kRunMs, false);
        EXPECT_EQ(124, r.code) << Describe(r);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        EXPECT_FALSE(PathExists(dir + "/got-term")) << "the TERM reached more than the command";
        if (no_tree)
            EXPECT_TRUE(pktest::Alive(b)) << "GNU's --foreground leaves the children running";
        else if (HostHasCgroups())
            EXPECT_TRUE(pktest::WaitDead(b, 3000)) << "the tree's leftovers outlived the command";
    }
    // -k kills the command alone too.
    Result r = Run({"--foreground", "-k", "0.2", "0.2", "sh", "-c", "trap '' TERM; sleep 10"});
    EXPECT_EQ(124, r.code) << Describe(r);
    EXPECT_LT(r.elapsed_ms, 5000);
    // Without --foreground the same background child does get the TERM.
    const std::string dir = NewDir("bg");
    Running run = Start({"1", "sh", "-c", script(dir)});
    ASSERT_TRUE(WaitForStdout(&run, "ready\n"));
    pktest::ProcId b = TrackPidFile(dir + "/B");
    r = Finish(&run);
    EXPECT_EQ(124, r.code) << Describe(r);
    EXPECT_TRUE(PathExists(dir + "/got-term")) << "the tree did not get the TERM";
    EXPECT_TRUE(pktest::WaitDead(b, 3000));
}

// pk timeout on a terminal of its own (a new session whose controlling
// terminal is a pty, so its process group is the foreground one): whether
// COMMAND can read from it.
struct TtyResult {
    int status = -1;
    std::string output;
};

TtyResult RunOnTerminal(const std::string& pk, const std::vector<std::string>& args, const std::string& typed) {
    TtyResult res;
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
        ADD_FAILURE() << "no pty";
        if (master >= 0)
            close(master);
        return res;
    }
    std::string slave = ptsname(master);
    std::vector<std::string> argv_s = {pk, "timeout"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        int fd = open(slave.c_str(), O_RDWR);  // becomes the controlling terminal
        if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(99);
        struct termios t;
        if (tcgetattr(0, &t) == 0) {
            t.c_lflag &= static_cast<tcflag_t>(~ECHO);
            tcsetattr(0, TCSANOW, &t);
        }
        execv(argv[0], argv.data());
        _exit(98);
    }
    if (pid < 0) {
        close(master);
        ADD_FAILURE() << "fork failed";
        return res;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    if (write(master, typed.data(), typed.size()) != static_cast<ssize_t>(typed.size()))
        ADD_FAILURE() << "cannot type into the terminal";
    auto deadline = Clock::now() + std::chrono::milliseconds(kRunMs);
    bool reaped = false;
    bool killed = false;
    for (int quiet = 0; quiet < 5;) {
        struct pollfd p = {master, POLLIN, 0};
        ssize_t n = 0;
        if (poll(&p, 1, 20) > 0) {
            char buf[4096];
            n = read(master, buf, sizeof buf);
            if (n > 0)
                res.output.append(buf, static_cast<size_t>(n));
        }
        if (!reaped && waitpid(pid, &res.status, WNOHANG) == pid)
            reaped = true;
        else if (!reaped && !killed && Clock::now() >= deadline) {
            ADD_FAILURE() << "pk timeout on a terminal overran; killing it";
            kill(pid, SIGKILL);
            killed = true;
        }
        // Once it is gone, read what is left until the terminal is quiet.
        if (reaped)
            quiet = n > 0 ? 0 : quiet + 1;
    }
    close(master);
    return res;
}

TEST_F(TimeoutTest, ForegroundCommandCanReadTheTerminal) {
    const std::string script = "read line; echo \"got:$line\"";
    std::vector<std::vector<std::string>> readers = {{"--foreground"}, {"--foreground", "--no-tree"}};
    if (HostHasCgroups())
        readers.push_back({});  // a cgroup leaves COMMAND in the foreground group too
    for (const auto& opts : readers) {
        SCOPED_TRACE(Shown(opts));
        std::vector<std::string> args = opts;
        args.insert(args.end(), {"10", "sh", "-c", script});
        TtyResult r = RunOnTerminal(pk_, args, "hello\n");
        EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.status << " " << r.output;
        EXPECT_TRUE(Contains(r.output, "got:hello")) << r.output;
    }
    // --no-tree alone puts COMMAND in a background group, as GNU without
    // --foreground: reading stops it (SIGTTIN) until the timeout.
    TtyResult r = RunOnTerminal(pk_, {"--no-tree", "1", "sh", "-c", script}, "hello\n");
    EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 124) << r.status << " " << r.output;
    EXPECT_FALSE(Contains(r.output, "got:hello")) << r.output;
}

}  // namespace
