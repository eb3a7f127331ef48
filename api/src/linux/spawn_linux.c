/* Process creation on Linux.
 *
 * The child is created vfork-style (CLONE_VM | CLONE_VFORK): it borrows the
 * caller's memory on a stack carved from the caller's frame, and the calling
 * thread sleeps until the child has exec'd or exited. That is cheaper than a
 * copy-on-write fork and lets the child report a failed step by writing into
 * the parent's memory, with no error pipe. clone3 places the child in its
 * cgroup at birth (CLONE_INTO_CGROUP) and hands back a pidfd (CLONE_PIDFD).
 *
 * Everything the child runs is a raw system call: no malloc, no locks, no
 * stdio, nothing a sanitizer or a host's interposer could hook. */
#include "process_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "processkit.h"

extern char **environ;

#if defined(__x86_64__) || defined(__aarch64__)
/* The trampoline in clone3_linux.c. */
long pk__clone3_call(struct clone_args *args, size_t size, int (*fn)(void *), void *arg);
#define PK_HAVE_CLONE3_CALL 1
#endif

#if defined(__clang__)
#define PK_CHILD_CODE __attribute__((noinline, no_sanitize("address", "thread", "undefined", "memory")))
#elif defined(__GNUC__)
#define PK_CHILD_CODE __attribute__((noinline, no_sanitize_address, no_sanitize_thread, no_sanitize_undefined))
#else
#define PK_CHILD_CODE
#endif

/* 0 unknown, 1 clone3 works, 2 use the legacy path. */
static atomic_int clone3_state;
static atomic_int force_legacy;

void pk__spawn_force_legacy(int on)
{
    atomic_store(&force_legacy, on);
}

/* Which step failed in the child; named in the parent's message. */
enum child_step {
    STEP_NONE = 0,
    STEP_SIGNALS,
    STEP_SESSION,
    STEP_PGROUP,
    STEP_PDEATHSIG,
    STEP_PARENT_GONE,
    STEP_CWD,
    STEP_STDIO,
    STEP_CLOSE_FDS,
    STEP_PTY,
    STEP_RLIMIT,
    STEP_FDMAP,
    STEP_IDS,
    STEP_EXEC,
};

/* Shared between the caller and the vfork-style child. The child only reads
 * it, except for the two result fields. */
typedef struct child_plan {
    const pk_spawn_request *req;
    char *const *candidates; /* paths to try with execve, in order */
    size_t candidate_count;
    char *const *argv;
    char *const *envp;
    pid_t parent_pid;
    volatile int failed_step;
    volatile int failed_errno;
} child_plan;

/* Kernel layout of struct sigaction; only the handler is read here. */
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

PK_CHILD_CODE static int child_fail(child_plan *plan, int step, long rc)
{
    plan->failed_step = step;
    plan->failed_errno = (int)(rc < 0 ? -rc : rc);
    return 127;
}

/* syscall() reports errors through errno; the child reads it right away. */
PK_CHILD_CODE static long sc_result(long rc)
{
    return rc < 0 ? -errno : rc;
}

/* Wires the child's fds: 0-2 from the stdio slots, then each extra map.
 * Every source is first lifted above all targets, so no dup overwrites a
 * source another target still needs (stdin <- 1 with stdout <- 0, say). */
PK_CHILD_CODE static int child_wire_fds(child_plan *plan)
{
    const pk_spawn_request *req = plan->req;
    const pk_spawn_extra *x = req->extra;
    size_t maps = x ? x->fd_map_count : 0;
    int top = 3;
    for (size_t i = 0; i < maps; i++)
        if (x->fd_maps[i].child_fd + 1 > top)
            top = x->fd_maps[i].child_fd + 1;
    int src[3];
    for (int i = 0; i < 3; i++) {
        src[i] = x && x->pty_slave_fd >= 0 ? x->pty_slave_fd : req->stdio[i];
        if (src[i] == PK_STDIO_NULL) {
            long fd = sc_result(syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR | O_CLOEXEC));
            if (fd < 0)
                return child_fail(plan, STEP_STDIO, fd);
            src[i] = (int)fd;
        }
        if (src[i] >= 0 && src[i] < top && src[i] != i) {
            long fd = sc_result(syscall(SYS_fcntl, src[i], F_DUPFD_CLOEXEC, top));
            if (fd < 0)
                return child_fail(plan, STEP_STDIO, fd);
            src[i] = (int)fd;
        }
    }
    /* The extra sources, lifted the same way; at most 64 (checked by the
     * command builder). */
    int extra_src[64];
    for (size_t i = 0; i < maps; i++) {
        long fd = sc_result(syscall(SYS_fcntl, x->fd_maps[i].parent_fd, F_DUPFD_CLOEXEC, top));
        if (fd < 0)
            return child_fail(plan, STEP_FDMAP, fd);
        extra_src[i] = (int)fd;
    }
    for (int i = 0; i < 3; i++) {
        if (src[i] < 0)
            continue; /* inherit: fd i stays as it is */
        long rc = src[i] == i ? sc_result(syscall(SYS_fcntl, i, F_SETFD, 0))
                              : sc_result(syscall(SYS_dup3, src[i], i, 0));
        if (rc < 0)
            return child_fail(plan, STEP_STDIO, rc);
    }
    for (size_t i = 0; i < maps; i++) {
        long rc = sc_result(syscall(SYS_dup3, extra_src[i], x->fd_maps[i].child_fd, 0));
        if (rc < 0)
            return child_fail(plan, STEP_FDMAP, rc);
    }
    return 0;
}

/* Closes every fd but 0-2 and the mapped ones (sorted by child_fd). */
PK_CHILD_CODE static int child_close_other_fds(child_plan *plan)
{
    const pk_spawn_extra *x = plan->req->extra;
    size_t maps = x ? x->fd_map_count : 0;
    unsigned lo = 3;
    long rc = 0;
    for (size_t i = 0; i <= maps && rc == 0; i++) {
        unsigned hi = i < maps ? (unsigned)x->fd_maps[i].child_fd : ~0u;
        if (hi > lo)
            rc = sc_result(syscall(SYS_close_range, lo, hi == ~0u ? ~0u : hi - 1, 0u));
        if (i < maps)
            lo = hi + 1;
    }
    if (rc == 0)
        return 0;
    if (rc != -ENOSYS)
        return child_fail(plan, STEP_CLOSE_FDS, rc);
    /* Kernels before 5.9: close one by one up to the fd limit. */
    struct rlimit lim;
    long top = 65536;
    if (syscall(SYS_getrlimit, RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < 1048576)
        top = (long)lim.rlim_cur;
    for (long fd = 3; fd < top; fd++) {
        int keep = 0;
        for (size_t i = 0; i < maps && !keep; i++)
            keep = x->fd_maps[i].child_fd == fd;
        if (!keep)
            syscall(SYS_close, fd);
    }
    return 0;
}

/* Resource limits, umask, directory: everything that needs the old
 * credentials or must precede the exec. */
PK_CHILD_CODE static int child_attributes(child_plan *plan)
{
    const pk_spawn_request *req = plan->req;
    const pk_spawn_extra *x = req->extra;
    long rc;
    if (x && x->pty_slave_fd >= 0) {
        rc = sc_result(syscall(SYS_ioctl, x->pty_slave_fd, TIOCSCTTY, 0));
        if (rc < 0)
            return child_fail(plan, STEP_PTY, rc);
    }
    for (size_t i = 0; x && i < x->rlimit_count; i++) {
        struct rlimit lim = {(rlim_t)x->rlimits[i].soft, (rlim_t)x->rlimits[i].hard};
        rc = sc_result(syscall(SYS_prlimit64, 0, x->rlimits[i].resource, &lim, NULL));
        if (rc < 0)
            return child_fail(plan, STEP_RLIMIT, rc);
    }
    if (x && x->set_umask)
        syscall(SYS_umask, x->umask);
    if (x && x->cwd_fd >= 0) {
        rc = sc_result(syscall(SYS_fchdir, x->cwd_fd));
        if (rc < 0)
            return child_fail(plan, STEP_CWD, rc);
    } else if (req->cwd) {
        rc = sc_result(syscall(SYS_chdir, req->cwd));
        if (rc < 0)
            return child_fail(plan, STEP_CWD, rc);
    }
    return 0;
}

/* Drops to the requested user. The child already sits in its cgroup (it was
 * born there), so no permission on the cgroup is needed after this. */
PK_CHILD_CODE static int child_drop_ids(child_plan *plan)
{
    const pk_spawn_extra *x = plan->req->extra;
    if (!x || !x->set_ids)
        return 0;
    long rc = sc_result(syscall(SYS_setgroups, x->group_count, x->groups));
    if (rc == 0)
        rc = sc_result(syscall(SYS_setresgid, x->gid, x->gid, x->gid));
    if (rc == 0)
        rc = sc_result(syscall(SYS_setresuid, x->uid, x->uid, x->uid));
    return rc < 0 ? child_fail(plan, STEP_IDS, rc) : 0;
}

PK_CHILD_CODE static int child_main(void *arg)
{
    child_plan *plan = arg;
    const pk_spawn_request *req = plan->req;
    long rc;

    /* Handlers belong to the caller's code, which this process is about to
     * stop being: reset them (and SIGPIPE, which runtimes often ignore) so no
     * handler runs on the borrowed stack. The table is a copy, so the
     * caller's dispositions are untouched. */
    for (int sig = 1; sig < _NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        struct kernel_sigaction old;
        if (syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof old.mask) != 0)
            continue; /* a signal number the kernel reserves */
        if ((old.handler != SIG_DFL && old.handler != SIG_IGN) || (sig == SIGPIPE && old.handler == SIG_IGN)) {
            struct kernel_sigaction dfl = {.handler = SIG_DFL};
            syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
        }
    }

    if (req->new_session || (req->extra && req->extra->pty_slave_fd >= 0)) {
        rc = sc_result(syscall(SYS_setsid));
        if (rc < 0)
            return child_fail(plan, STEP_SESSION, rc);
    } else if (req->target.own_process_group) {
        rc = sc_result(syscall(SYS_setpgid, 0, 0));
        if (rc < 0)
            return child_fail(plan, STEP_PGROUP, rc);
    }

    if (child_attributes(plan) != 0)
        return 127;
    if (child_wire_fds(plan) != 0)
        return 127;
    if (child_close_other_fds(plan) != 0)
        return 127;
    if (child_drop_ids(plan) != 0)
        return 127;

    /* After the credentials change, which would clear it. */
    if (req->parent_death_signal > 0) {
        rc = sc_result(syscall(SYS_prctl, PR_SET_PDEATHSIG, (unsigned long)req->parent_death_signal, 0, 0, 0));
        if (rc < 0)
            return child_fail(plan, STEP_PDEATHSIG, rc);
        /* The parent may have died before the prctl took hold. */
        if (syscall(SYS_getppid) != plan->parent_pid)
            return child_fail(plan, STEP_PARENT_GONE, -ESRCH);
    }

    sigset_t none;
    sigemptyset(&none);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, _NSIG / 8);

    /* Try each candidate like execvp: a missing file moves on, a denied one is
     * remembered, anything else stops the search. */
    long err = -ENOENT;
    int saw_eacces = 0;
    for (size_t i = 0; i < plan->candidate_count; i++) {
        err = sc_result(syscall(SYS_execve, plan->candidates[i], plan->argv, plan->envp));
        if (err == -EACCES)
            saw_eacces = 1;
        else if (err != -ENOENT && err != -ENOTDIR && err != -ENAMETOOLONG)
            break;
    }
    if (saw_eacces && (err == -ENOENT || err == -ENOTDIR))
        err = -EACCES;
    return child_fail(plan, STEP_EXEC, err);
}

/* The paths execve should try for the request, like execvpe. */
static int build_candidates(const pk_spawn_request *req, const char *program, char ***out, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (strchr(program, '/') || !req->search_path) {
        char *path;
        if (program[0] != '/' && req->cwd) {
            /* A relative program is relative to the caller's directory, not the
             * child's new one. */
            char here[PATH_MAX];
            if (!getcwd(here, sizeof here))
                return pk__fail_errno(PK_ERR_OS, errno, "spawn: getcwd");
            size_t len = strlen(here) + 1 + strlen(program) + 1;
            path = malloc(len);
            if (path)
                snprintf(path, len, "%s/%s", here, program);
        } else {
            path = strdup(program);
        }
        char **list = malloc(sizeof *list);
        if (!path || !list) {
            free(path);
            free(list);
            return pk__fail(PK_ERR_NOMEM, "spawn: out of memory");
        }
        list[0] = path;
        *out = list;
        *count = 1;
        return PK_OK;
    }

    const char *search = NULL;
    if (req->envp) {
        for (const char *const *e = req->envp; *e; e++)
            if (strncmp(*e, "PATH=", 5) == 0)
                search = *e + 5;
    } else {
        search = getenv("PATH");
    }
    if (!search)
        search = "/usr/local/bin:/usr/bin:/bin";

    size_t dirs = 1;
    for (const char *p = search; *p; p++)
        dirs += *p == ':';
    char **list = calloc(dirs, sizeof *list);
    if (!list)
        return pk__fail(PK_ERR_NOMEM, "spawn: out of memory");
    size_t n = 0, plen = strlen(program);
    const char *start = search;
    for (;;) {
        const char *end = strchr(start, ':');
        size_t dlen = end ? (size_t)(end - start) : strlen(start);
        /* An empty PATH entry means the current directory. */
        const char *dir = dlen ? start : ".";
        size_t use = dlen ? dlen : 1;
        char *path = malloc(use + 1 + plen + 1);
        if (!path) {
            for (size_t i = 0; i < n; i++)
                free(list[i]);
            free(list);
            return pk__fail(PK_ERR_NOMEM, "spawn: out of memory");
        }
        memcpy(path, dir, use);
        path[use] = '/';
        memcpy(path + use + 1, program, plen + 1);
        list[n++] = path;
        if (!end)
            break;
        start = end + 1;
    }
    *out = list;
    *count = n;
    return PK_OK;
}

static void free_candidates(char **list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(list[i]);
    free(list);
}

static const char *step_name(int step)
{
    switch (step) {
    case STEP_SIGNALS: return "resetting signal handlers";
    case STEP_SESSION: return "setsid";
    case STEP_PGROUP: return "setpgid";
    case STEP_PDEATHSIG: return "arming the parent-death signal";
    case STEP_PARENT_GONE: return "the spawning thread died before the child started";
    case STEP_CWD: return "changing to the working directory";
    case STEP_STDIO: return "setting up stdin/stdout/stderr";
    case STEP_CLOSE_FDS: return "closing inherited fds";
    case STEP_PTY: return "taking the terminal as controlling terminal";
    case STEP_RLIMIT: return "setting a resource limit";
    case STEP_FDMAP: return "mapping an extra fd";
    case STEP_IDS: return "changing user and groups";
    case STEP_EXEC: return "exec";
    default: return "starting the child";
    }
}

/* 32 KiB is several times what child_main's deepest path needs. */
#define CHILD_STACK_BYTES (32 * 1024)

static long clone_child(child_plan *plan, int *pidfd, int legacy, unsigned char *stack_base)
{
    const pk_spawn_request *req = plan->req;
    unsigned char *stack_top = (unsigned char *)(((uintptr_t)stack_base + CHILD_STACK_BYTES) & ~(uintptr_t)15);
#if defined(PK_HAVE_CLONE3_CALL)
    if (!legacy) {
        struct clone_args args;
        memset(&args, 0, sizeof args);
        args.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD;
        args.pidfd = (uint64_t)(uintptr_t)pidfd;
        /* No exit signal: the child is reaped through its pidfd with __WALL,
         * so a host's waitpid(-1) cannot steal its status. */
        args.exit_signal = 0;
        args.stack = (uint64_t)(uintptr_t)stack_base;
        args.stack_size = (uint64_t)(stack_top - stack_base);
        if (req->target.cgroup_fd >= 0) {
            args.flags |= CLONE_INTO_CGROUP;
            args.cgroup = (uint64_t)req->target.cgroup_fd;
        }
        return pk__clone3_call(&args, sizeof args, child_main, plan);
    }
#else
    (void)legacy;
#endif
    long pid = clone(child_main, stack_top, CLONE_VM | CLONE_VFORK | CLONE_PIDFD, plan, pidfd);
    return pid < 0 ? -errno : pid;
}

int pk__spawn(const pk_spawn_request *req, pid_t *pid_out, int *pidfd_out)
{
    const char *program = req->program ? req->program : req->argv[0];
    char **candidates;
    size_t candidate_count;
    int rc = build_candidates(req, program, &candidates, &candidate_count);
    if (rc != PK_OK)
        return rc;

    child_plan plan = {
        .req = req,
        .candidates = candidates,
        .candidate_count = candidate_count,
        .argv = (char *const *)req->argv,
        .envp = (char *const *)(req->envp ? req->envp : (const char *const *)environ),
        .parent_pid = getpid(),
    };

    /* With every signal blocked, no handler of the caller's can run in the
     * child before it resets them. Only this thread's mask changes, and only
     * until the child is gone from our memory. */
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);

    _Alignas(16) unsigned char stack[CHILD_STACK_BYTES];
    int pidfd = -1;
    int legacy = atomic_load(&force_legacy) || atomic_load(&clone3_state) == 2;
    long pid = -ENOSYS;
    if (!legacy) {
        pid = clone_child(&plan, &pidfd, 0, stack);
        if (pid == -ENOSYS || pid == -E2BIG) {
            /* A kernel before 5.7, or a seccomp filter, without clone3 and
             * cgroup placement: remember, and take the legacy path. */
            atomic_store(&clone3_state, 2);
            legacy = 1;
        } else if (pid > 0) {
            atomic_store(&clone3_state, 1);
        }
    }
    if (legacy) {
        /* Without clone3 a child cannot be born inside a cgroup; the cgroup
         * backend reports itself unavailable on such hosts, so this only
         * guards a backend that asked anyway. */
        if (req->target.cgroup_fd >= 0)
            pid = -EOPNOTSUPP;
        else
            pid = clone_child(&plan, &pidfd, 1, stack);
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    free_candidates(candidates, candidate_count);

    if (pid < 0)
        return pk__fail_errno(pk__code_from_errno((int)-pid) == PK_ERR_NOMEM ? PK_ERR_NOMEM : PK_ERR_OS, (int)-pid,
                              "spawn %s: clone", program);

    if (plan.failed_step != STEP_NONE) {
        /* The child has already exited (_exit after the failed step): reap
         * it so nothing is left behind. */
        siginfo_t info;
        while (waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED | __WALL) < 0 && errno == EINTR) {
        }
        close(pidfd);
        int err = plan.failed_errno;
        if (plan.failed_step == STEP_EXEC) {
            if (err == ENOENT || err == ENOTDIR)
                return pk__fail(PK_ERR_NOT_FOUND, "spawn: program not found: %s%s", program,
                                candidate_count > 1 ? " (searched PATH)" : "");
            if (err == EACCES || err == ENOEXEC || err == EPERM)
                return pk__fail_errno(PK_ERR_PERMISSION, err, "spawn: cannot execute %s", program);
            return pk__fail_errno(pk__code_from_errno(err), err, "spawn: exec %s", program);
        }
        if (plan.failed_step == STEP_CWD)
            return pk__fail_errno(err == ENOENT || err == ENOTDIR ? PK_ERR_NOT_FOUND : pk__code_from_errno(err), err,
                                  "spawn %s: working directory %s", program, req->cwd ? req->cwd : "(given as an fd)");
        return pk__fail_errno(err == EBADF ? PK_ERR_INVALID : PK_ERR_OS, err, "spawn %s: %s", program,
                              step_name(plan.failed_step));
    }
    *pid_out = (pid_t)pid;
    *pidfd_out = pidfd;
    return PK_OK;
}
