/* The loop's core: starting runs, reacting to fd events, timeouts and
 * cancellation, and turning a finished run into a result. */
#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "sys.h"

enum watch_kind { W_STDIN, W_STDOUT, W_STDERR, W_PID, W_TIMER, W_CANCEL, W_WAKE };

/* Reads per stream per wakeup, so one flooding child cannot starve others. */
#define READS_PER_WAKEUP 16
#define READ_CHUNK (64 * 1024)

void pk__process_os_init(pk_process_obj *p)
{
    p->fd[0] = p->fd[1] = p->fd[2] = p->timer_fd = p->cancel_fd = p->pty_master = -1;
}

void pk__process_os_destroy(pk_object *obj)
{
    pk_process_obj *p = (pk_process_obj *)obj;
    for (int i = 0; i < 3; i++)
        if (p->fd[i] >= 0)
            close(p->fd[i]);
    if (p->timer_fd >= 0)
        close(p->timer_fd);
    if (p->cancel_fd >= 0)
        close(p->cancel_fd);
    if (p->pty_master >= 0 && p->fd[1] != p->pty_master)
        close(p->pty_master);
    if (p->probe.use_regex)
        regfree(&p->probe.regex);
    pk__run_release(p);
}

void pk__loop_os_close(pk_loop_obj *loop)
{
    if (loop->epfd >= 0)
        close(loop->epfd);
    if (loop->wakefd >= 0)
        close(loop->wakefd);
    loop->epfd = loop->wakefd = -1;
}

int pk__loop_os_open(pk_loop_obj *loop)
{
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    loop->wake_watch.kind = W_WAKE;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &loop->wake_watch};
    if (loop->epfd < 0 || loop->wakefd < 0 || epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) < 0)
        return pk__fail_errno(PK_ERR_OS, errno, "pk_loop_new: epoll/eventfd");
    return PK_OK;
}

static void wake(pk_loop_obj *loop)
{
    uint64_t one = 1;
    if (loop->wakefd >= 0) {
        ssize_t n = write(loop->wakefd, &one, sizeof one);
        (void)n;
    }
}

static int watch_fd(pk_process_obj *p, int kind, int fd, uint32_t events)
{
    p->watch[kind].kind = kind;
    p->watch[kind].proc = p;
    struct epoll_event ev = {.events = events, .data.ptr = &p->watch[kind]};
    if (epoll_ctl(p->loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return pk__fail_errno(PK_ERR_OS, errno, "epoll_ctl add");
    return PK_OK;
}

static void unwatch_fd(pk_process_obj *p, int fd)
{
    if (fd >= 0 && p->loop->epfd >= 0)
        (void)epoll_ctl(p->loop->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* ---- output ---- */

static void close_stream(pk_process_obj *p, int stream)
{
    if (p->fd[stream] < 0)
        return;
    unwatch_fd(p, p->fd[stream]);
    if (p->fd[stream] == p->pty_master && !p->exited && !atomic_load(&p->done)) {
        /* The program closed its side of the terminal but still runs:
         * closing the master now would hang the terminal up and SIGHUP it.
         * Keep the master until the program is reaped. */
        p->fd[stream] = -1;
    } else {
        if (p->fd[stream] == p->pty_master)
            p->pty_master = -1;
        close(p->fd[stream]);
        p->fd[stream] = -1;
    }
    if (pk__run_wants_lines(p, stream))
        pk__lines_flush(&p->lines[stream], stream, pk__run_emit_line, p);
}

static void read_stream(pk_process_obj *p, int stream)
{
    uint8_t scratch[READ_CHUNK];
    for (int i = 0; i < READS_PER_WAKEUP && p->fd[stream] >= 0; i++) {
        size_t avail = 0;
        /* Read straight into the capture buffer when it keeps these bytes. */
        uint8_t *dst = pk__capture_reserve(&p->cap[stream], READ_CHUNK, &avail);
        int direct = dst != NULL;
        if (!direct) {
            dst = scratch;
            avail = sizeof scratch;
        }
        ssize_t n = read(p->fd[stream], dst, avail);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            n = 0; /* treat a read error as the end of the stream */
        }
        if (n == 0) {
            close_stream(p, stream);
            return;
        }
        if (direct)
            pk__capture_commit(&p->cap[stream], (size_t)n);
        else
            (void)pk__capture_append(&p->cap[stream], dst, (size_t)n);
        if (pk__run_wants_lines(p, stream))
            pk__lines_feed(&p->lines[stream], dst, (size_t)n, stream, pk__run_emit_line, p);
        if ((size_t)n < avail)
            return; /* the pipe is drained for now */
    }
}

/* ---- stdin ---- */

/* Writes to a pipe whose reader may be gone without raising SIGPIPE in the
 * host: block it on this thread, and consume one we caused. */
static ssize_t write_quietly(int fd, const void *buf, size_t len)
{
    sigset_t pipe_set, saved, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &saved);
    ssize_t n = write(fd, buf, len);
    int err = errno;
    if (n < 0 && err == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        (void)sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    errno = err;
    return n;
}

static void close_stdin(pk_process_obj *p)
{
    if (p->fd[0] < 0)
        return;
    unwatch_fd(p, p->fd[0]);
    close(p->fd[0]);
    p->fd[0] = -1;
}

/* Writes what is queued; keeps EPOLLOUT armed only while bytes are waiting. */
static void pump_stdin(pk_process_obj *p)
{
    while (p->fd[0] >= 0 && p->in_off < p->in_len) {
        ssize_t n = write_quietly(p->fd[0], p->in_buf + p->in_off, p->in_len - p->in_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            /* EPIPE: the child stopped reading; the rest has nowhere to go. */
            p->in_off = p->in_len;
            close_stdin(p);
            return;
        }
        p->in_off += (size_t)n;
    }
    if (p->fd[0] < 0)
        return;
    if (p->in_off == p->in_len) {
        p->in_off = p->in_len = 0;
        if (p->in_close) {
            close_stdin(p);
            return;
        }
    }
    struct epoll_event ev = {.events = p->in_len ? EPOLLOUT : 0, .data.ptr = &p->watch[W_STDIN]};
    (void)epoll_ctl(p->loop->epfd, EPOLL_CTL_MOD, p->fd[0], &ev);
}

/* ---- timers, signals, cancellation ---- */

static void arm_timer(pk_process_obj *p)
{
    uint64_t at = 0;
    const uint64_t deadlines[3] = {p->timeout_at, p->grace_at, p->drain_at};
    for (int i = 0; i < 3; i++)
        if (deadlines[i] && (!at || deadlines[i] < at))
            at = deadlines[i];
    if (p->timer_fd < 0) {
        if (!at)
            return;
        p->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (p->timer_fd < 0 || watch_fd(p, W_TIMER, p->timer_fd, EPOLLIN) != PK_OK)
            return; /* without a timer the run still ends when the program does */
    }
    struct itimerspec spec;
    memset(&spec, 0, sizeof spec);
    spec.it_value.tv_sec = (time_t)(at / 1000000000u);
    spec.it_value.tv_nsec = (long)(at % 1000000000u);
    (void)timerfd_settime(p->timer_fd, at ? TFD_TIMER_ABSTIME : 0, &spec, NULL);
}

/* The run's tree in a private group; the program alone in a shared one. */
void pk__run_signal_tree(pk_process_obj *p, int sig)
{
    if (p->private_group) {
        (void)pk__group_signal_obj(p->group, sig);
        return;
    }
    pthread_mutex_lock(&p->child->lock);
    if (!p->child->reaped && !p->child->lost)
        (void)pk__pidfd_send_signal(p->child->proc, sig);
    pthread_mutex_unlock(&p->child->lock);
}

int pk__run_polite_signal(pk_process_obj *p)
{
    if (p->plan.timeout_signal == SIGKILL)
        return 0;
    pk__run_signal_tree(p, p->plan.timeout_signal);
    return 1;
}

void pk__run_close_outputs(pk_process_obj *p)
{
    close_stream(p, 1);
    close_stream(p, 2);
}

static void on_timer(pk_process_obj *p)
{
    uint64_t expirations;
    ssize_t n = read(p->timer_fd, &expirations, sizeof expirations);
    (void)n;
    pk__run_on_deadlines(p, pk__now_ns());
    arm_timer(p);
}

static void on_exit_event(pk_process_obj *p)
{
    if (!pk__run_exited(p))
        return;
    if (p->pty_master >= 0 && p->fd[1] != p->pty_master) {
        close(p->pty_master); /* held past its end of file; the program is gone now */
        p->pty_master = -1;
    }
    unwatch_fd(p, p->child->proc);
    arm_timer(p);
}

/* ---- finishing ---- */

void pk__run_finish(pk_process_obj *p)
{
    close_stdin(p);
    close_stream(p, 1);
    close_stream(p, 2);
    if (p->timer_fd >= 0) {
        unwatch_fd(p, p->timer_fd);
        close(p->timer_fd);
        p->timer_fd = -1;
    }
    if (p->cancel_fd >= 0) {
        unwatch_fd(p, p->cancel_fd);
        close(p->cancel_fd);
        p->cancel_fd = -1;
    }
    pk__run_complete(p);
}

static void check_done(pk_process_obj *p)
{
    if (!atomic_load(&p->done) && p->exited && p->fd[1] < 0 && p->fd[2] < 0)
        pk__run_finish(p);
}

/* ---- starting ---- */

static int make_pipe(int fds[2], int our_end)
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return pk__fail_errno(PK_ERR_OS, errno, "pipe2");
    if (fcntl(fds[our_end], F_SETFL, O_NONBLOCK) < 0) {
        int err = errno;
        close(fds[0]);
        close(fds[1]);
        return pk__fail_errno(PK_ERR_OS, err, "fcntl O_NONBLOCK");
    }
    return PK_OK;
}

/* Opens a pseudo-terminal: the master stays ours (non-blocking), the slave
 * becomes the child's terminal. */
static int open_pty(pk_process_obj *p, int *slave_out)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        return pk__fail_errno(PK_ERR_OS, errno, "posix_openpt");
    char name[128];
    int slave = -1;
    if (grantpt(master) == 0 && unlockpt(master) == 0 && ptsname_r(master, name, sizeof name) == 0)
        slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) {
        int err = errno;
        close(master);
        return pk__fail_errno(PK_ERR_OS, err, "opening the terminal's slave side");
    }
    struct winsize ws = {.ws_row = p->plan.attrs.pty_rows, .ws_col = p->plan.attrs.pty_cols};
    (void)ioctl(master, TIOCSWINSZ, &ws);
    int writer = fcntl(master, F_DUPFD_CLOEXEC, 3);
    if (writer < 0 || fcntl(master, F_SETFL, O_NONBLOCK) < 0 || fcntl(writer, F_SETFL, O_NONBLOCK) < 0) {
        int err = errno;
        close(master);
        close(slave);
        if (writer >= 0)
            close(writer);
        return pk__fail_errno(PK_ERR_OS, err, "setting up the terminal");
    }
    p->pty_master = master;
    p->fd[1] = master; /* everything the program writes arrives as stdout */
    p->fd[0] = writer; /* and pk_process_write types into it */
    *slave_out = slave;
    return PK_OK;
}

/* A run's pipe: our end non-blocking in p->fd, the child's end returned. */
static int pipe_for(pk_process_obj *p, int stream, int *child_end)
{
    int fds[2];
    const int ours = stream == 0 ? 1 : 0; /* we write stdin, read the others */
    int rc = make_pipe(fds, ours);
    if (rc != PK_OK)
        return rc;
    p->fd[stream] = fds[ours];
    *child_end = fds[1 - ours];
    return PK_OK;
}

static int open_stdin_file(const char *path, int *fd)
{
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return pk__fail_errno(errno == ENOENT ? PK_ERR_NOT_FOUND : pk__code_from_errno(errno), errno,
                              "stdin file %s", path);
    return PK_OK;
}

static const pk_stdio_ops linux_stdio = {pipe_for, open_stdin_file};

/* Sets up the child's stdio, leaving our ends in p->fd and the child's ends
 * (to close after the spawn) in child_ends; a PTY run's slave is child_ends[3]. */
static int setup_stdio(pk_process_obj *p, const pk_start_overrides *ov, int32_t slot[3], int child_ends[4])
{
    if (p->plan.attrs.pty) {
        int slave = -1;
        int rc = open_pty(p, &slave);
        if (rc != PK_OK)
            return rc;
        slot[0] = slot[1] = slot[2] = slave;
        child_ends[3] = slave;
        return PK_OK;
    }
    return pk__run_stdio(p, ov, slot, child_ends, &linux_stdio);
}

int pk__run_os_spawn(pk_process_obj *p, const pk_start_overrides *ov)
{
    int32_t slot[3];
    int child_ends[4] = {-1, -1, -1, -1};
    int rc = setup_stdio(p, ov, slot, child_ends);
    const pk_command_attrs *a = &p->plan.attrs;
    pk_spawn_extra extra = {
        .set_ids = a->set_ids,
        .uid = (uid_t)a->uid,
        .gid = (gid_t)a->gid,
        .groups = a->groups,
        .group_count = a->group_count,
        .set_umask = a->set_umask,
        .umask = (mode_t)a->umask,
        .rlimits = a->rlimits,
        .rlimit_count = a->rlimit_count,
        .cwd_fd = a->cwd_fd,
        .fd_maps = a->fd_maps,
        .fd_map_count = a->fd_map_count,
        .pty_slave_fd = a->pty ? child_ends[3] : -1,
    };
    if (rc == PK_OK)
        rc = pk__run_spawn(p, slot, &extra);
    return pk__run_spawned(p, ov, rc, child_ends, 4);
}

int pk__run_os_watch(pk_process_obj *p)
{
    int rc = PK_OK;
    if (p->fd[0] >= 0)
        rc = watch_fd(p, W_STDIN, p->fd[0], 0);
    for (int s = 1; s <= 2 && rc == PK_OK; s++)
        if (p->fd[s] >= 0)
            rc = watch_fd(p, s == 1 ? W_STDOUT : W_STDERR, p->fd[s], EPOLLIN);
    if (rc == PK_OK)
        rc = watch_fd(p, W_PID, p->child->proc, EPOLLIN);
    if (rc == PK_OK && p->plan.cancel) {
        /* Several runs may watch one token: each watches its own dup. */
        p->cancel_fd = fcntl(p->plan.cancel->fd, F_DUPFD_CLOEXEC, 3);
        rc = p->cancel_fd < 0 ? pk__fail_errno(PK_ERR_OS, errno, "dup of a cancellation fd")
                              : watch_fd(p, W_CANCEL, p->cancel_fd, EPOLLIN);
    }
    return rc;
}

void pk__run_os_unwatch(pk_process_obj *p)
{
    for (int i = 0; i < 3; i++)
        if (p->fd[i] >= 0)
            unwatch_fd(p, p->fd[i]);
    if (p->child)
        unwatch_fd(p, p->child->proc);
    if (p->cancel_fd >= 0)
        unwatch_fd(p, p->cancel_fd);
    if (p->timer_fd >= 0)
        unwatch_fd(p, p->timer_fd);
}

void pk__run_os_begin(pk_process_obj *p)
{
    /* epoll already waits on the new fds: no wake-up needed. */
    if (p->fd[0] >= 0)
        pump_stdin(p);
    if (p->timeout_at)
        arm_timer(p);
}

/* ---- dispatch ---- */

static void handle_event(pk_watch *w, uint32_t events)
{
    pk_process_obj *p = w->proc;
    if (atomic_load(&p->done))
        return;
    switch (w->kind) {
    case W_STDIN:
        if (events & (EPOLLERR | EPOLLHUP)) {
            p->in_off = p->in_len = 0;
            close_stdin(p);
        } else {
            pump_stdin(p);
        }
        break;
    case W_STDOUT: read_stream(p, 1); break;
    case W_STDERR: read_stream(p, 2); break;
    case W_PID: on_exit_event(p); break;
    case W_TIMER: on_timer(p); break;
    case W_CANCEL:
        unwatch_fd(p, p->cancel_fd);
        pk__process_cancel(p);
        break;
    default: break;
    }
}

/* Finishes the runs whose program and outputs are done, and drops them. */
static void sweep(pk_loop_obj *loop)
{
    for (size_t i = 0; i < loop->count; i++)
        check_done(loop->procs[i]);
    pk__loop_drop_finished(loop);
}

void pk__loop_wake(pk_loop_obj *loop)
{
    wake(loop);
}

static int run_once(pk_loop_obj *loop, int timeout_ms);

int pk__loop_run_once(pk_loop_obj *loop, int timeout_ms)
{
    int counted;
    int rc = pk__loop_enter(loop, &counted);
    if (rc == PK_OK)
        rc = pk__loop_leave(loop, counted, run_once(loop, timeout_ms));
    return rc;
}

int pk__loop_run_once_watching(pk_loop_obj *loop, int timeout_ms, pk_cancel_obj *token)
{
    /* The token's eventfd stays out of the loop's epoll set (which holds
     * only the loop's own watches): poll both, then run what is ready. */
    struct pollfd fds[2] = {{.fd = loop->epfd, .events = POLLIN}, {.fd = token->fd, .events = POLLIN}};
    int n = poll(fds, 2, timeout_ms);
    if (n < 0)
        return errno == EINTR ? PK_OK : pk__fail_errno(PK_ERR_OS, errno, "poll");
    return n > 0 && fds[0].revents ? pk__loop_run_once(loop, 0) : PK_OK;
}

static int run_once(pk_loop_obj *loop, int timeout_ms)
{
    struct epoll_event events[64];
    int n = epoll_wait(loop->epfd, events, 64, timeout_ms);
    if (n < 0) {
        if (errno == EINTR)
            return PK_OK;
        return pk__fail_errno(PK_ERR_OS, errno, "epoll_wait");
    }
    pthread_mutex_lock(&loop->lock);
    loop->in_dispatch++;
    /* Finished runs stay referenced by the loop until sweep(), so a watch
     * from this batch never points at freed memory. */
    for (int i = 0; i < n; i++) {
        pk_watch *w = events[i].data.ptr;
        if (w->kind == W_WAKE) {
            uint64_t count;
            ssize_t r = read(loop->wakefd, &count, sizeof count);
            (void)r;
            continue;
        }
        handle_event(w, events[i].events);
    }
    sweep(loop);
    loop->in_dispatch--;
    pthread_mutex_unlock(&loop->lock);
    return PK_OK;
}


/* ---- used by the public API in run.c ---- */

int pk__process_write(pk_process_obj *p, const void *data, size_t len)
{
    if (p->plan.stdin_mode != PK_IN_PIPE && !p->plan.attrs.pty)
        return pk__fail(PK_ERR_STATE, "pk_process_write: stdin is not a pipe (use pk_command_stdin_pipe)");
    if (p->fd[0] < 0 || p->in_close)
        return pk__fail(PK_ERR_STATE, "pk_process_write: stdin is closed");
    int rc = pk__run_queue_stdin(p, data, len);
    if (rc == PK_OK)
        pump_stdin(p);
    return rc;
}

int pk__process_close_stdin(pk_process_obj *p)
{
    if (p->plan.stdin_mode != PK_IN_PIPE && !p->plan.attrs.pty)
        return pk__fail(PK_ERR_STATE, "pk_process_close_stdin: stdin is not a pipe");
    p->in_close = 1;
    pump_stdin(p);
    return PK_OK;
}

int pk__process_signal(pk_process_obj *p, int sig)
{
    pk__run_signal_tree(p, sig);
    return PK_OK;
}

int pk__process_resize(pk_process_obj *p, uint16_t rows, uint16_t cols)
{
    if (p->pty_master < 0)
        return pk__fail(PK_ERR_STATE, "pk_process_resize: the run has no terminal (use pk_command_pty)");
    struct winsize ws = {.ws_row = rows, .ws_col = cols};
    if (ioctl(p->pty_master, TIOCSWINSZ, &ws) != 0)
        return pk__fail_errno(PK_ERR_OS, errno, "pk_process_resize: TIOCSWINSZ");
    return PK_OK;
}

int pk__process_watch_cancel(pk_process_obj *p, pk_cancel_obj *token)
{
    if (p->cancel_fd >= 0)
        return PK_OK; /* already watching its command's token */
    p->cancel_fd = fcntl(token->fd, F_DUPFD_CLOEXEC, 3);
    if (p->cancel_fd < 0)
        return pk__fail_errno(PK_ERR_OS, errno, "dup of a cancellation fd");
    return watch_fd(p, W_CANCEL, p->cancel_fd, EPOLLIN);
}

