/* Thin wrappers over Linux calls that glibc 2.36 does not expose, plus small
 * file and clock helpers used across modules. */
#ifndef PK_SYS_H
#define PK_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

int pk__pidfd_open(pid_t pid);
int pk__pidfd_send_signal(int pidfd, int sig);

/* 1 when a TCP connection to 127.0.0.1:port succeeds within wait_ms. */
int pk__tcp_port_open(uint16_t port, int wait_ms);

/* Monotonic time. */
uint64_t pk__now_ns(void);

/* Milliseconds from now_ns until a pk__now_ns() deadline, rounded up so a
 * wait never ends before it; 0 once it has passed. Capped at 10^9 (11 days):
 * a caller waiting longer loops. */
static inline int pk__ms_until(uint64_t deadline_ns, uint64_t now_ns)
{
    if (now_ns >= deadline_ns)
        return 0;
    uint64_t ms = (deadline_ns - now_ns + 999999u) / 1000000u;
    return ms > 1000000000u ? 1000000000 : (int)ms;
}

/* A short pause of about ms milliseconds (a signal may end it early). */
void pk__sleep_ms(unsigned ms);

/* An anonymous pipe as two C runtime fds (read end, write end), neither
 * inherited by children unless handed to a spawn; and their close. */
int pk__os_pipe(int fds[2]);
void pk__os_close(int fd);

/* Reads a whole small file into buf (NUL-terminated). Returns the length or
 * -errno. */
ssize_t pk__read_file(const char *path, char *buf, size_t len);
/* Reads from offset 0 of an open fd (for re-reading cgroup.events). */
ssize_t pk__pread_all(int fd, char *buf, size_t len);
/* Writes text to a file (O_WRONLY, no create). Returns 0 or -errno. */
int pk__write_file(const char *path, const char *text);
/* The same, with path relative to an open directory (or AT_FDCWD). */
int pk__write_file_at(int dir_fd, const char *path, const char *text);

/* Waits for fd to become readable (POLLIN) or, with pri, to report POLLPRI.
 * timeout_ms < 0 waits forever. Returns 1 ready, 0 timeout, -errno. */
int pk__poll_one(int fd, int pri, int timeout_ms);

/* The start time of a process in clock ticks since boot (field 22 of
 * /proc/PID/stat), or 0 if it does not exist. */
uint64_t pk__proc_start_time(pid_t pid);

#endif
