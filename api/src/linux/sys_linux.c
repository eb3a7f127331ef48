#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int pk__pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int pk__pidfd_send_signal(int pidfd, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

uint64_t pk__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int pk__os_pipe(int fds[2])
{
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno;
}

void pk__os_close(int fd)
{
    close(fd);
}

void pk__sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    (void)nanosleep(&ts, NULL);
}

ssize_t pk__pread_all(int fd, char *buf, size_t len)
{
    size_t got = 0;
    while (got + 1 < len) {
        ssize_t n = pread(fd, buf + got, len - 1 - got, (off_t)got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return (ssize_t)got;
}

ssize_t pk__read_file(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = pk__pread_all(fd, buf, len);
    close(fd);
    return n;
}

int pk__write_file(const char *path, const char *text)
{
    return pk__write_file_at(AT_FDCWD, path, text);
}

int pk__write_file_at(int dir_fd, const char *path, const char *text)
{
    int fd = openat(dir_fd, path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = strlen(text);
    ssize_t n;
    do
        n = write(fd, text, len);
    while (n < 0 && errno == EINTR);
    int err = n < 0 ? errno : ((size_t)n != len ? EIO : 0);
    close(fd);
    return -err;
}

int pk__poll_one(int fd, int pri, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = pri ? POLLPRI : POLLIN};
    /* An EINTR storm must not restart the full timeout: count down a
     * monotonic deadline. */
    uint64_t deadline = timeout_ms < 0 ? 0 : pk__now_ns() + (uint64_t)timeout_ms * 1000000u;
    int left = timeout_ms;
    for (;;) {
        int n = poll(&p, 1, left);
        if (n >= 0)
            return n > 0;
        if (errno != EINTR)
            return -errno;
        if (timeout_ms >= 0) {
            uint64_t now = pk__now_ns();
            if (now >= deadline)
                return 0;
            left = pk__ms_until(deadline, now);
        }
    }
}

uint64_t pk__proc_start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (pk__read_file(path, buf, sizeof buf) <= 0)
        return 0;
    /* The command name may hold spaces and parentheses: fields start after
     * the last ')'. Start time is field 22, the 20th after it. */
    const char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    unsigned long long value = 0;
    int field = 2;
    for (p++; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    if (field == 22 && sscanf(p, "%llu", &value) == 1)
        return value;
    return 0;
}

/* One connection attempt to 127.0.0.1:port, bounded by wait_ms. */
int pk__tcp_port_open(uint16_t port, int wait_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    if (!ok && errno == EINPROGRESS) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t len = sizeof err;
        ok = poll(&pfd, 1, wait_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
    close(fd);
    return ok;
}
