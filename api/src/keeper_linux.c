/* The keeper process (see keeper.h).
 *
 * It is forked from the owner without exec, so it may only do what is safe
 * in the child of a multi-threaded process: raw system calls into memory it
 * maps itself. It never returns into the owner's code. */
#include "keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "processkit.h"

#if defined(__clang__)
#define PK_KEEPER_CODE __attribute__((noinline, no_sanitize("address", "thread", "undefined", "memory")))
#elif defined(__GNUC__)
#define PK_KEEPER_CODE __attribute__((noinline, no_sanitize_address, no_sanitize_thread, no_sanitize_undefined))
#else
#define PK_KEEPER_CODE
#endif

#define KEEPER_SLOTS 4096
#define KEEPER_PATH_MAX 512
/* After the kill, how long the keeper waits for each leaf to empty before
 * it removes what it can and leaves. */
#define KEEPER_DRAIN_MS 2000

/* ---- the keeper side: raw system calls only ---- */

struct keeper_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

PK_KEEPER_CODE static size_t k_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

PK_KEEPER_CODE static int k_equal(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* dir + "/" + file into out; 0 on success. */
PK_KEEPER_CODE static int k_join(char *out, size_t cap, const char *dir, const char *file)
{
    size_t d = k_strlen(dir), f = k_strlen(file);
    if (d + 1 + f + 1 > cap)
        return -1;
    for (size_t i = 0; i < d; i++)
        out[i] = dir[i];
    out[d] = '/';
    for (size_t i = 0; i <= f; i++)
        out[d + 1 + i] = file[i];
    return 0;
}

PK_KEEPER_CODE static void k_write_file(const char *dir, const char *file, const char *text)
{
    char path[KEEPER_PATH_MAX + 32];
    if (k_join(path, sizeof path, dir, file) != 0)
        return;
    long fd = syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    syscall(SYS_write, fd, text, k_strlen(text));
    syscall(SYS_close, fd);
}

/* Reads a small cgroup file into buf (NUL-terminated); length or -1. */
PK_KEEPER_CODE static long k_read_file(const char *dir, const char *file, char *buf, size_t cap)
{
    char path[KEEPER_PATH_MAX + 32];
    if (k_join(path, sizeof path, dir, file) != 0)
        return -1;
    long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    long got = 0, n;
    while (got + 1 < (long)cap && (n = syscall(SYS_read, fd, buf + got, cap - 1 - (size_t)got)) > 0)
        got += n;
    syscall(SYS_close, fd);
    buf[got] = '\0';
    return got;
}

PK_KEEPER_CODE static int k_populated(const char *dir)
{
    char buf[256];
    if (k_read_file(dir, "cgroup.events", buf, sizeof buf) < 0)
        return 0; /* gone */
    for (char *p = buf; *p; p++)
        if (p[0] == 'p' && p[1] == 'o' && p[2] == 'p' && p[3] == 'u' && p[4] == 'l' && p[5] == 'a' &&
            p[6] == 't' && p[7] == 'e' && p[8] == 'd' && p[9] == ' ')
            return p[10] != '0';
    return 1;
}

/* Kills everything in one leaf: cgroup.kill, or on kernels before 5.14 a
 * freeze (so nothing forks), a SIGKILL for each member, and a thaw. */
PK_KEEPER_CODE static void k_kill_leaf(const char *dir, char *scratch, size_t cap)
{
    char path[KEEPER_PATH_MAX + 32];
    if (k_join(path, sizeof path, dir, "cgroup.kill") == 0) {
        long fd = syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            long n = syscall(SYS_write, fd, "1", 1);
            syscall(SYS_close, fd);
            if (n == 1)
                return;
        }
    }
    k_write_file(dir, "cgroup.freeze", "1");
    if (k_read_file(dir, "cgroup.procs", scratch, cap) > 0) {
        long pid = 0;
        for (char *p = scratch;; p++) {
            if (*p >= '0' && *p <= '9') {
                pid = pid * 10 + (*p - '0');
            } else {
                /* Frozen members cannot exit and be replaced: the pid is theirs. */
                if (pid > 0)
                    syscall(SYS_kill, pid, SIGKILL);
                pid = 0;
                if (!*p)
                    break;
            }
        }
    }
    k_write_file(dir, "cgroup.freeze", "0");
}

PK_KEEPER_CODE static void k_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    syscall(SYS_nanosleep, &ts, NULL);
}

PK_KEEPER_CODE static void keeper_main(int commands, int ready)
{
    /* The handlers are the owner's code: none may run here. */
    for (int sig = 1; sig < _NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        struct keeper_sigaction act = {.handler = SIG_DFL};
        if (sig == SIGHUP || sig == SIGINT || sig == SIGQUIT || sig == SIGPIPE || sig == SIGTSTP ||
            sig == SIGTTIN || sig == SIGTTOU)
            act.handler = SIG_IGN;
        syscall(SYS_rt_sigaction, sig, &act, NULL, sizeof act.mask);
    }
    unsigned long none = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
    /* Out of the owner's session and process group, so the signals aimed at
     * those (a terminal's ^C, a killpg of the owner's job) miss it. */
    syscall(SYS_setsid);
    syscall(SYS_chdir, "/");
    syscall(SYS_prctl, PR_SET_NAME, (unsigned long)"pk-keeper", 0, 0, 0);
    /* Closing every other fd closes `ready` too: the owner, waiting for its
     * end of file, knows the keeper is named and out of its session. */
    (void)ready;
    if (commands > 0)
        syscall(SYS_close_range, 0u, (unsigned)commands - 1, 0u);
    syscall(SYS_close_range, (unsigned)commands + 1, ~0u, 0u);

    long map = syscall(SYS_mmap, NULL, (size_t)KEEPER_SLOTS * KEEPER_PATH_MAX + 65536, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == -1)
        syscall(SYS_exit_group, 1);
    char(*slots)[KEEPER_PATH_MAX] = (char(*)[KEEPER_PATH_MAX])map;
    char *scratch = (char *)map + (size_t)KEEPER_SLOTS * KEEPER_PATH_MAX;
    const size_t scratch_cap = 65536;

    /* Commands: "+DIR\n" guards a leaf, "-DIR\n" releases it. */
    char buf[8192];
    size_t len = 0;
    for (;;) {
        long n = syscall(SYS_read, commands, buf + len, sizeof buf - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the owner is gone */
        len += (size_t)n;
        size_t start = 0;
        for (size_t i = 0; i < len; i++) {
            if (buf[i] != '\n')
                continue;
            buf[i] = '\0';
            char op = buf[start];
            const char *dir = buf + start + 1;
            if (k_strlen(dir) < KEEPER_PATH_MAX && (op == '+' || op == '-')) {
                int done = 0;
                for (int s = 0; s < KEEPER_SLOTS && !done; s++) {
                    if (op == '+' && !slots[s][0]) {
                        for (size_t c = 0; c <= k_strlen(dir); c++)
                            slots[s][c] = dir[c];
                        done = 1;
                    } else if (op == '-' && slots[s][0] && k_equal(slots[s], dir)) {
                        slots[s][0] = '\0';
                        done = 1;
                    }
                }
            }
            start = i + 1;
        }
        /* Keep an unfinished command for the next read. */
        for (size_t i = start; i < len; i++)
            buf[i - start] = buf[i];
        len -= start;
        if (len == sizeof buf)
            len = 0; /* a line longer than any path: drop it */
    }

    for (int s = 0; s < KEEPER_SLOTS; s++)
        if (slots[s][0])
            k_kill_leaf(slots[s], scratch, scratch_cap);
    for (int s = 0; s < KEEPER_SLOTS; s++) {
        if (!slots[s][0])
            continue;
        for (long waited = 0; waited < KEEPER_DRAIN_MS && k_populated(slots[s]); waited += 5)
            k_sleep_ms(5);
        syscall(SYS_rmdir, slots[s]);
    }
    syscall(SYS_exit_group, 0);
}

/* ---- the owner side ---- */

static pthread_mutex_t keeper_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static int keeper_fd = -1;    /* the command pipe's write end */
static int keeper_pidfd = -1;
static pid_t keeper_pid;
static char **guarded;        /* what a restarted keeper must be told again */
static size_t guarded_count, guarded_cap;

static void atfork_prepare(void)
{
    pthread_mutex_lock(&keeper_lock);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&keeper_lock);
}

/* A forked copy of the owner owns none of these groups; holding the pipe
 * would only delay the real owner's keeper. */
static void atfork_child(void)
{
    if (keeper_fd >= 0)
        close(keeper_fd);
    if (keeper_pidfd >= 0)
        close(keeper_pidfd);
    keeper_fd = keeper_pidfd = -1;
    keeper_pid = 0;
    guarded_count = 0;
    pthread_mutex_unlock(&keeper_lock);
}

static void install_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* Writes a whole command; SIGPIPE (a dead keeper) is blocked and consumed. */
static int send_command(char op, const char *dir)
{
    char line[KEEPER_PATH_MAX + 3];
    size_t n = strlen(dir);
    if (n >= KEEPER_PATH_MAX || strchr(dir, '\n'))
        return -1;
    line[0] = op;
    memcpy(line + 1, dir, n);
    line[n + 1] = '\n';
    sigset_t pipe_set, saved, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &saved);
    /* Under PIPE_BUF bytes: the write is atomic, never partial. */
    ssize_t w;
    do
        w = write(keeper_fd, line, n + 2);
    while (w < 0 && errno == EINTR);
    if (w < 0 && errno == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        (void)sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    return w == (ssize_t)(n + 2) ? 0 : -1;
}

static void forget_keeper(void)
{
    if (keeper_fd >= 0)
        close(keeper_fd);
    if (keeper_pidfd >= 0) {
        siginfo_t info;
        (void)waitid(P_PIDFD, (id_t)keeper_pidfd, &info, WEXITED | WNOHANG | __WALL);
        close(keeper_pidfd);
    }
    keeper_fd = keeper_pidfd = -1;
    keeper_pid = 0;
}

static int keeper_alive(void)
{
    if (keeper_fd < 0 || keeper_pidfd < 0)
        return 0;
    struct pollfd p = {.fd = keeper_pidfd, .events = POLLIN};
    return poll(&p, 1, 0) == 0;
}

static int start_keeper(void)
{
    int fds[2], ready[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return pk__fail_errno(PK_ERR_OS, errno, "keeper: pipe2");
    if (pipe2(ready, O_CLOEXEC) != 0) {
        int err = errno;
        close(fds[0]);
        close(fds[1]);
        return pk__fail_errno(PK_ERR_OS, err, "keeper: pipe2");
    }
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    int pidfd = -1;
    /* Fork-like: a copy of the address space, no exit signal (so no host
     * waitpid(-1) reaps it), a pidfd to watch it by. */
    long pid = syscall(SYS_clone, (unsigned long)CLONE_PIDFD, NULL, &pidfd, NULL, NULL);
    if (pid == 0) {
        keeper_main(fds[0], ready[1]);
        syscall(SYS_exit_group, 0);
    }
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    close(fds[0]);
    close(ready[1]);
    if (pid < 0) {
        close(ready[0]);
        close(fds[1]);
        return pk__fail_errno(PK_ERR_OS, err, "keeper: clone");
    }
    char byte;
    while (read(ready[0], &byte, 1) < 0 && errno == EINTR) {
    }
    close(ready[0]);
    keeper_fd = fds[1];
    keeper_pidfd = pidfd;
    keeper_pid = (pid_t)pid;
    for (size_t i = 0; i < guarded_count; i++)
        (void)send_command('+', guarded[i]);
    return PK_OK;
}

int pk__keeper_guard(const char *dir)
{
    pthread_once(&atfork_once, install_atfork);
    pthread_mutex_lock(&keeper_lock);
    int rc = PK_OK;
    if (guarded_count == guarded_cap) {
        size_t cap = guarded_cap ? guarded_cap * 2 : 16;
        char **grown = realloc(guarded, cap * sizeof *grown);
        if (!grown)
            rc = pk__fail(PK_ERR_NOMEM, "keeper: out of memory");
        else {
            guarded = grown;
            guarded_cap = cap;
        }
    }
    char *copy = rc == PK_OK ? strdup(dir) : NULL;
    if (rc == PK_OK && !copy)
        rc = pk__fail(PK_ERR_NOMEM, "keeper: out of memory");
    if (rc == PK_OK) {
        guarded[guarded_count++] = copy;
        if (!keeper_alive()) {
            forget_keeper();
            rc = start_keeper(); /* tells it about every guarded leaf, this one included */
        } else if (send_command('+', dir) != 0) {
            forget_keeper();
            rc = start_keeper();
        }
        if (rc != PK_OK) {
            guarded_count--;
            free(copy);
        }
    }
    pthread_mutex_unlock(&keeper_lock);
    return rc;
}

void pk__keeper_release(const char *dir)
{
    pthread_mutex_lock(&keeper_lock);
    for (size_t i = 0; i < guarded_count; i++) {
        if (strcmp(guarded[i], dir) == 0) {
            free(guarded[i]);
            guarded[i] = guarded[--guarded_count];
            if (keeper_fd >= 0)
                (void)send_command('-', dir);
            break;
        }
    }
    pthread_mutex_unlock(&keeper_lock);
}

int pk__keeper_pid(void)
{
    pthread_mutex_lock(&keeper_lock);
    int pid = keeper_alive() ? (int)keeper_pid : 0;
    pthread_mutex_unlock(&keeper_lock);
    return pid;
}
