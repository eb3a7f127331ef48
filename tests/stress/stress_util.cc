#include "stress_util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/proc_util.h"

namespace pkstress {

long EnvLong(const char* name, long def) {
    const char* v = getenv(name);
    if (!v || !*v)
        return def;
    char* end;
    long n = strtol(v, &end, 10);
    return (*end == '\0' && n > 0) ? n : def;
}

int64_t MsSince(Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

bool BecomeSubreaper() {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
}

int ReapOrphans() {
    int n = 0;
    for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p > 0) {
            n++;
            continue;
        }
        if (p < 0 && errno == EINTR)
            continue;
        return n;
    }
}

long VmRssKiB() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0)
            return strtol(line.c_str() + 6, nullptr, 10);
    return -1;
}

pid_t SessionOf(pid_t pid) {
    return getsid(pid);
}

std::string Cmdline(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (char& c : s)
        if (c == '\0')
            c = ' ';
    while (!s.empty() && s.back() == ' ')
        s.pop_back();
    return s;
}

std::vector<pid_t> LiveChildrenAfter(int timeout_ms) {
    auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        ReapOrphans();
        std::vector<pid_t> live;
        for (pid_t p : pktest::Children()) {
            char s = pktest::State(p);
            if (s != 0 && s != 'Z' && s != 'X')
                live.push_back(p);
        }
        if (live.empty() || Clock::now() >= end)
            return live;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

}  // namespace pkstress
