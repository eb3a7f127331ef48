/* The Linux side of children: pidfds, waitid(P_PIDFD) and clone3 spawns. */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "process_spawn.h"
#include "sys.h"

int pk__fd_is_open(int fd)
{
    return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

int32_t pk__self_pid(void)
{
    return (int32_t)getpid();
}

static void decode(const siginfo_t *info, pk_exit_status *st)
{
    memset(st, 0, sizeof *st);
    st->size = sizeof *st;
    switch (info->si_code) {
    case CLD_EXITED:
        st->kind = PK_EXIT_CODE;
        st->code = info->si_status;
        break;
    case CLD_DUMPED:
        st->core_dumped = 1;
        /* fall through */
    default:
        st->kind = PK_EXIT_SIGNAL;
        st->signal = info->si_status;
        break;
    }
}

/* PIDFD_GET_INFO (Linux 6.15+), defined here because older kernel headers
 * lack it: the pidfd keeps the exit status after anyone reaps the child, so
 * a host that ignores SIGCHLD or reaps with waitpid(-1) cannot lose it. */
struct pk_pidfd_info {
    uint64_t mask;
    uint64_t cgroupid;
    uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
    int32_t exit_code;
};
#define PK_PIDFD_INFO_EXIT (1ull << 3)
#define PK_PIDFD_GET_INFO _IOWR(0xFF, 11, struct pk_pidfd_info)

/* 1 with the status filled when the kernel kept it, else 0. */
static int status_from_pidfd(pk_child_obj *child)
{
    struct pk_pidfd_info info;
    memset(&info, 0, sizeof info);
    info.mask = PK_PIDFD_INFO_EXIT;
    if (ioctl(child->proc, PK_PIDFD_GET_INFO, &info) < 0 || !(info.mask & PK_PIDFD_INFO_EXIT))
        return 0;
    int ws = info.exit_code;
    memset(&child->status, 0, sizeof child->status);
    child->status.size = sizeof child->status;
    if (WIFEXITED(ws)) {
        child->status.kind = PK_EXIT_CODE;
        child->status.code = WEXITSTATUS(ws);
    } else {
        child->status.kind = PK_EXIT_SIGNAL;
        child->status.signal = WTERMSIG(ws);
        child->status.core_dumped = WCOREDUMP(ws) ? 1 : 0;
    }
    return 1;
}

int pk__child_reap_now(pk_child_obj *child)
{
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int rc;
    do
        rc = waitid(P_PIDFD, (id_t)child->proc, &info, WEXITED | WNOHANG | __WALL);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        if (errno == ECHILD) {
            /* Someone else reaped it (or SIGCHLD is ignored and the kernel
             * did). The pidfd still knows how it ended on 6.15+. */
            if (status_from_pidfd(child))
                child->reaped = 1;
            else
                child->lost = 1;
            return 1;
        }
        return pk__fail_errno(PK_ERR_OS, errno, "waitid on pid %d", (int)child->pid);
    }
    if (info.si_pid == 0)
        return 0;
    decode(&info, &child->status);
    child->reaped = 1;
    return 1;
}

int pk__proc_wait(pk_child_obj *child, int timeout_ms)
{
    /* The pidfd turns readable at exit; no polling interval involved. */
    int ready = pk__poll_one(child->proc, 0, timeout_ms);
    if (ready < 0)
        return pk__fail_errno(PK_ERR_OS, -ready, "poll on pid %d", (int)child->pid);
    return ready;
}

int pk__proc_signal(pk_child_obj *child, int sig)
{
    if (pk__pidfd_send_signal(child->proc, sig) < 0)
        return pk__fail_errno(errno == ESRCH ? PK_ERR_NO_PROCESS : pk__code_from_errno(errno), errno,
                              "pk_child_signal: signal %d to pid %d", sig, (int)child->pid);
    return PK_OK;
}

int pk__proc_pollfd(pk_child_obj *child, int *fd)
{
    *fd = child->proc;
    return PK_OK;
}

void pk__proc_close(pk_proc_ref proc)
{
    close(proc);
}

int pk__child_spawn(const pk_spawn_request *req, pk_child_obj **out)
{
    pid_t pid = -1;
    int pidfd = -1;
    int rc = pk__spawn(req, &pid, &pidfd);
    if (rc != PK_OK)
        return rc;
    rc = pk__child_new((int32_t)pid, pidfd, out);
    if (rc != PK_OK) {
        /* Never leave an untracked process behind. */
        pk__pidfd_send_signal(pidfd, SIGKILL);
        siginfo_t info;
        waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED | __WALL);
        close(pidfd);
    }
    return rc;
}

int pk__child_start(pk_child_obj *child)
{
    (void)child; /* clone3 placed it at birth; it is already running */
    return PK_OK;
}

void pk__child_discard(pk_child_obj *child)
{
    (void)pk__pidfd_send_signal(child->proc, SIGKILL);
    (void)pk__child_reap(child, -1);
    pk__object_unref(&child->obj);
}

void pk__child_wait_any(pk_child_obj *const *children, size_t count, int drain_fd, int timeout_ms)
{
    struct pollfd fds[65];
    size_t n = 0;
    if (drain_fd >= 0)
        fds[n++] = (struct pollfd){.fd = drain_fd, .events = POLLPRI};
    for (size_t i = 0; i < count && n < 65; i++)
        fds[n++] = (struct pollfd){.fd = children[i]->proc, .events = POLLIN};
    (void)poll(fds, n, timeout_ms);
}

int pk__proc_open_child(int32_t pid, pk_proc_ref *out)
{
    /* Only the caller's own children: their pid cannot be recycled until the
     * caller reaps them, which makes the check below exact. */
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT | __WALL) < 0) {
        return errno == ECHILD ? pk__fail(PK_ERR_NO_PROCESS,
                                          "pk_group_adopt: pid %d is not a child of this process, or was already reaped",
                                          (int)pid)
                               : pk__fail_errno(PK_ERR_OS, errno, "pk_group_adopt: waitid on pid %d", (int)pid);
    }
    if (info.si_pid == pid)
        return 0; /* exited but not reaped: nothing left to contain */
    int pidfd = pk__pidfd_open(pid);
    if (pidfd < 0)
        return errno == ESRCH ? 0 : pk__fail_errno(PK_ERR_OS, errno, "pk_group_adopt: pidfd_open(%d)", (int)pid);
    *out = pidfd;
    return 1;
}
