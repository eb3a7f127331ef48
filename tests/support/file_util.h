// Small file, pipe and time helpers the suites share (Linux): a monotonic
// stopwatch, reading a /proc file with plain read(2) (a file of a process
// that vanishes mid-read fails with ESRCH, which std::ifstream would turn
// into an exception), reading a pipe to end of file with a bounded wait, and
// a pipe that closes what is still open.
#ifndef PK_TESTS_FILE_UTIL_H
#define PK_TESTS_FILE_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace pktest {

using Clock = std::chrono::steady_clock;

inline int64_t MsSince(Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

inline bool PathExists(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0;
}

// The whole file ("" if it cannot be opened).
inline std::string ReadText(const std::string& path) {
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

// Reads fd until end of file (the caller has closed every write end it
// holds), giving up once nothing arrives for wait_ms.
inline std::string ReadToEof(int fd, int wait_ms = 10000) {
    std::string out;
    char buf[65536];
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, wait_ms) <= 0)
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

// Owns both ends of a pipe (O_CLOEXEC); closes whatever is still open.
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

}  // namespace pktest

#endif
