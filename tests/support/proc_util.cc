#include "proc_util.h"

#include "processkit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

namespace pktest {

namespace {

bool ReadStat(pid_t pid, char* state, uint64_t* start) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
    // read(2), not std::ifstream: reading the stat file of a process that
    // exits meanwhile fails with ESRCH, which libstdc++ throws as an exception.
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    std::string text;
    char buf[1024];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
            text.append(buf, static_cast<size_t>(n));
    ::close(fd);
    size_t close = text.rfind(')');
    if (close == std::string::npos)
        return false;
    std::istringstream rest(text.substr(close + 2));
    std::string field;
    rest >> *state;  // field 3
    for (int i = 4; i <= 22; i++) {
        rest >> field;
        if (i == 22)
            *start = strtoull(field.c_str(), nullptr, 10);
    }
    return true;
}

}  // namespace

ProcId Identify(pid_t pid) {
    ProcId id;
    char state;
    uint64_t start = 0;
    if (pid > 0 && ReadStat(pid, &state, &start)) {
        id.pid = pid;
        id.start_time = start;
    }
    return id;
}

bool Alive(const ProcId& id) {
    if (id.pid <= 0 || id.start_time == 0)
        return false;
    char state;
    uint64_t start = 0;
    if (!ReadStat(id.pid, &state, &start))
        return false;
    return start == id.start_time && state != 'Z' && state != 'X';
}

bool WaitDead(const ProcId& id, int timeout_ms) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Alive(id)) {
        if (std::chrono::steady_clock::now() >= end)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

pid_t ReadPidFile(const std::string& path, int timeout_ms) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        std::ifstream in(path);
        std::string text;
        if (in && std::getline(in, text) && !in.eof() && !text.empty())
            return static_cast<pid_t>(atoi(text.c_str()));
        if (std::chrono::steady_clock::now() >= end)
            return 0;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

char State(pid_t pid) {
    char state = 0;
    uint64_t start;
    return ReadStat(pid, &state, &start) ? state : 0;
}

std::vector<pid_t> Children() {
    std::vector<pid_t> out;
    DIR* d = opendir("/proc");
    if (!d)
        return out;
    const pid_t self = getpid();
    while (struct dirent* e = readdir(d)) {
        char* end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        const char* open_paren = strchr(buf, '(');
        const char* close_paren = strrchr(buf, ')');
        char state = 0;
        int ppid = 0;
        if (!open_paren || !close_paren || sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2 || ppid != self)
            continue;
        std::string comm(open_paren + 1, close_paren);
        if (comm == "pk-keeper")
            continue;
        out.push_back(static_cast<pid_t>(pid));
    }
    closedir(d);
    return out;
}

bool NoChildren() {
    return Children().empty();
}

int OpenFdCount() {
    // The library keeps two fds for the life of the process once its first
    // cgroup group exists (the keeper's pipe and pidfd): open them before
    // counting, so they never read as a leak.
    static bool warmed = [] {
        pk_group* g = nullptr;
        if (pk_group_create(nullptr, &g) == PK_OK)
            pk_group_free(g);
        return true;
    }();
    (void)warmed;
    int n = 0;
    DIR* d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3;  // ".", ".." and the DIR's own fd
}

std::string CgroupMount() {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        size_t sep = line.find(" - ");
        if (sep == std::string::npos || line.compare(sep + 3, 8, "cgroup2 ") != 0)
            continue;
        std::istringstream fields(line);
        std::string f, point;
        for (int i = 0; i < 5; i++)
            fields >> f;
        return f;
    }
    return "";
}

std::vector<std::string> OurCgroupLeaves() {
    std::vector<std::string> out;
    std::string mount = CgroupMount();
    if (mount.empty())
        return out;
    std::ifstream in("/proc/self/cgroup");
    std::string line, rel = "/";
    while (std::getline(in, line))
        if (line.rfind("0::", 0) == 0)
            rel = line.substr(3);
    std::string dir = mount + (rel == "/" ? "" : rel);
    std::string prefix = "processkit-" + std::to_string(getpid()) + "-";
    DIR* d = opendir(dir.c_str());
    if (!d)
        return out;
    while (struct dirent* e = readdir(d))
        if (strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0)
            out.push_back(dir + "/" + e->d_name);
    closedir(d);
    return out;
}

TempDir::TempDir() {
    const char* base = getenv("TEST_TMPDIR");
    std::string templ = std::string(base ? base : "/tmp") + "/pktest.XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()))
        path_ = buf.data();
}

TempDir::~TempDir() {
    if (path_.empty())
        return;
    std::string cmd = "rm -rf '" + path_ + "'";
    if (system(cmd.c_str()) != 0) {
        // Nothing more to do: the test's own TEST_TMPDIR is removed by Bazel.
    }
}

void KillIfAlive(const ProcId& id) {
    // Pin the process with a pidfd first, then prove it is still the one we
    // identified: a recycled pid is never signalled.
    int fd = static_cast<int>(syscall(SYS_pidfd_open, id.pid, 0));
    if (fd < 0)
        return;
    if (Alive(id))
        syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
    close(fd);
}

}  // namespace pktest
