/* The keeper process (see keeper.h).
 *
 * It is forked from the owner without exec, so it may only do what is safe
 * in the child of a multi-threaded process: raw system calls, and memory it
 * maps or shares. It never returns into the owner's code.
 *
 * The owner tells it which leaves to guard through a table in shared memory
 * (MAP_SHARED, mapped before the fork): guarding or releasing a leaf is a
 * store, with no system call and no wake-up of the keeper, which sleeps in
 * read(2) until the owner's end of the pipe closes. */
#include "keeper.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
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

/* The shared table. A slot is valid once its state is SLOT_VALID; the
 * owner writes the path first and publishes it with a release store. */
enum { SLOT_FREE = 0, SLOT_VALID = 2 };

typedef struct keeper_table {
    _Atomic uint32_t state[KEEPER_SLOTS];
    char path[KEEPER_SLOTS][KEEPER_PATH_MAX];
} keeper_table;

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

PK_KEEPER_CODE static void keeper_main(int commands, int ready, keeper_table *table)
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

    long map = syscall(SYS_mmap, NULL, (size_t)65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == -1)
        syscall(SYS_exit_group, 1);
    char *scratch = (char *)map;
    const size_t scratch_cap = 65536;

    /* Nothing to do until the owner is gone: its end of the pipe closing is
     * the only event. */
    char buf[256];
    for (;;) {
        long n = syscall(SYS_read, commands, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
    }

    for (int s = 0; s < KEEPER_SLOTS; s++)
        if (atomic_load_explicit(&table->state[s], memory_order_acquire) == SLOT_VALID)
            k_kill_leaf(table->path[s], scratch, scratch_cap);
    for (int s = 0; s < KEEPER_SLOTS; s++) {
        if (atomic_load_explicit(&table->state[s], memory_order_acquire) != SLOT_VALID)
            continue;
        for (long waited = 0; waited < KEEPER_DRAIN_MS && k_populated(table->path[s]); waited += 5)
            k_sleep_ms(5);
        syscall(SYS_unlinkat, AT_FDCWD, table->path[s], AT_REMOVEDIR); /* rmdir: aarch64 has no SYS_rmdir */
    }
    syscall(SYS_exit_group, 0);
}

/* ---- the owner side ---- */

static pthread_mutex_t keeper_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static int keeper_fd = -1;    /* our end of the pipe; its closing is the signal */
static int keeper_pidfd = -1;
static pid_t keeper_pid;
static keeper_table *table;   /* shared with the keeper */

/* What is guarded, so a restarted keeper can be told again. */
typedef struct guarded_leaf {
    char *dir;
    int slot;
} guarded_leaf;
static guarded_leaf *guarded;
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
 * would only delay the real owner's keeper, and the table is the owner's. */
static void atfork_child(void)
{
    if (keeper_fd >= 0)
        close(keeper_fd);
    if (keeper_pidfd >= 0)
        close(keeper_pidfd);
    keeper_fd = keeper_pidfd = -1;
    keeper_pid = 0;
    table = NULL;
    guarded_count = 0;
    pthread_mutex_unlock(&keeper_lock);
}

static void install_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* Publishes dir in a free slot; returns the slot or -1 when full. */
static int table_add(const char *dir)
{
    for (int s = 0; s < KEEPER_SLOTS; s++) {
        if (atomic_load_explicit(&table->state[s], memory_order_relaxed) != SLOT_FREE)
            continue;
        memcpy(table->path[s], dir, strlen(dir) + 1);
        atomic_store_explicit(&table->state[s], SLOT_VALID, memory_order_release);
        return s;
    }
    return -1;
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
    if (table)
        munmap(table, sizeof *table);
    keeper_fd = keeper_pidfd = -1;
    keeper_pid = 0;
    table = NULL;
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
    keeper_table *shared =
        mmap(NULL, sizeof(keeper_table), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED)
        return pk__fail_errno(PK_ERR_NOMEM, errno, "keeper: mmap");
    int fds[2], ready[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        int err = errno;
        munmap(shared, sizeof *shared);
        return pk__fail_errno(PK_ERR_OS, err, "keeper: pipe2");
    }
    if (pipe2(ready, O_CLOEXEC) != 0) {
        int err = errno;
        close(fds[0]);
        close(fds[1]);
        munmap(shared, sizeof *shared);
        return pk__fail_errno(PK_ERR_OS, err, "keeper: pipe2");
    }
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    int pidfd = -1;
    /* Fork-like: a copy of the address space (the table stays shared), no
     * exit signal (so no host waitpid(-1) reaps it), a pidfd to watch it by. */
    long pid = syscall(SYS_clone, (unsigned long)CLONE_PIDFD, NULL, &pidfd, NULL, NULL);
    if (pid == 0) {
        keeper_main(fds[0], ready[1], shared);
        syscall(SYS_exit_group, 0);
    }
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    close(fds[0]);
    close(ready[1]);
    if (pid < 0) {
        close(ready[0]);
        close(fds[1]);
        munmap(shared, sizeof *shared);
        return pk__fail_errno(PK_ERR_OS, err, "keeper: clone");
    }
    char byte;
    while (read(ready[0], &byte, 1) < 0 && errno == EINTR) {
    }
    close(ready[0]);
    keeper_fd = fds[1];
    keeper_pidfd = pidfd;
    keeper_pid = (pid_t)pid;
    table = shared;
    for (size_t i = 0; i < guarded_count; i++)
        guarded[i].slot = table_add(guarded[i].dir);
    return PK_OK;
}

int pk__keeper_guard(const char *dir)
{
    if (strlen(dir) >= KEEPER_PATH_MAX)
        return pk__fail(PK_ERR_INVALID, "keeper: path too long: %s", dir);
    pthread_once(&atfork_once, install_atfork);
    pthread_mutex_lock(&keeper_lock);
    int rc = PK_OK;
    if (!keeper_alive()) {
        forget_keeper();
        rc = start_keeper();
    }
    if (rc == PK_OK && guarded_count == guarded_cap) {
        size_t cap = guarded_cap ? guarded_cap * 2 : 16;
        guarded_leaf *grown = realloc(guarded, cap * sizeof *grown);
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
    int slot = rc == PK_OK ? table_add(dir) : -1;
    if (rc == PK_OK && slot < 0)
        rc = pk__fail(PK_ERR_UNAVAILABLE, "keeper: %d guarded groups at most", KEEPER_SLOTS);
    if (rc == PK_OK)
        guarded[guarded_count++] = (guarded_leaf){copy, slot};
    else
        free(copy);
    pthread_mutex_unlock(&keeper_lock);
    return rc;
}

void pk__keeper_release(const char *dir)
{
    pthread_mutex_lock(&keeper_lock);
    for (size_t i = 0; i < guarded_count; i++) {
        if (strcmp(guarded[i].dir, dir) == 0) {
            if (table && guarded[i].slot >= 0)
                atomic_store_explicit(&table->state[guarded[i].slot], SLOT_FREE, memory_order_release);
            free(guarded[i].dir);
            guarded[i] = guarded[--guarded_count];
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

int pk__is_own_helper(int32_t pid)
{
    pthread_mutex_lock(&keeper_lock);
    int own = keeper_pid > 0 && (int32_t)keeper_pid == pid;
    pthread_mutex_unlock(&keeper_lock);
    return own;
}
