/* pk's POSIX-only helpers (see pk_cli.h): the pass-through pipe, line
 * relays, and the thread that takes pk's signals during a blocking call. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pk_cli.h"

/* ------------------------------------------------------ pass-through pipe */

int pkcli_passthrough_open(pkcli_passthrough *pt)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return pkcli_die("pipe: %s", strerror(errno));
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    pt->read_fd = fds[0];
    pt->write_fd = fds[1];
    return 0;
}

void pkcli_passthrough_forward(pkcli_passthrough *pt, int block)
{
    uint8_t buf[65536];
    while (pt->read_fd >= 0) {
        ssize_t n = read(pt->read_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN && block) {
            struct pollfd p = {.fd = pt->read_fd, .events = POLLIN};
            (void)poll(&p, 1, -1);
            continue;
        }
        if (n <= 0) {
            if (n == 0 || errno != EAGAIN) {
                close(pt->read_fd);
                pt->read_fd = -1;
            }
            return;
        }
        pkcli_write_all(1, buf, (size_t)n);
        pt->last_byte = buf[n - 1];
    }
}

void pkcli_passthrough_close_writer(pkcli_passthrough *pt)
{
    if (pt->write_fd >= 0) {
        close(pt->write_fd);
        pt->write_fd = -1;
    }
}

/* ------------------------------------------------------------ line relay */

/* The library hands over a line longer than this in pieces of exactly this
 * size (PK_MAX_LINE in api/src/output.h); a piece gets no newline. */
#define LIBRARY_MAX_LINE (1u << 20)

void pkcli_relay_init(pkcli_relay *r, int fd)
{
    r->fd = fd;
    r->last_byte = -1;
}

void pkcli_relay_line(void *user, int32_t stream, const char *line, size_t len)
{
    (void)stream;
    pkcli_relay *r = user;
    int newline = len != LIBRARY_MAX_LINE;
    /* One write for the line and its newline, so pk's own messages on the
     * same stream never land inside a line. */
    struct iovec iov[2] = {{.iov_base = (void *)line, .iov_len = len}, {.iov_base = "\n", .iov_len = 1}};
    int count = newline ? 2 : 1;
    ssize_t n;
    do
        n = writev(r->fd, iov, count);
    while (n < 0 && errno == EINTR);
    if (n >= 0 && (size_t)n < len + (size_t)newline) {
        /* A short write: the rest, byte-exact. */
        size_t done = (size_t)n;
        if (done < len)
            pkcli_write_all(r->fd, line + done, len - done);
        if (newline)
            pkcli_write_all(r->fd, "\n", 1);
    }
    if (newline)
        r->last_byte = '\n';
    else if (len)
        r->last_byte = (unsigned char)line[len - 1];
}

/* --------------------------------------------------------------- signals */

int pkcli_signals_block(int with_winch)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (with_winch)
        sigaddset(&set, SIGWINCH);
    sigprocmask(SIG_BLOCK, &set, NULL);
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void *watch_main(void *arg)
{
    pkcli_watch *w = arg;
    for (;;) {
        struct pollfd fds[3] = {{.fd = w->stop_fd, .events = POLLIN},
                                {.fd = w->sigfd, .events = POLLIN},
                                {.fd = w->pt ? w->pt->read_fd : -1, .events = POLLIN}};
        int timeout = -1;
        if (w->grace_at) {
            uint64_t now = pkcli_now_ms();
            timeout = now >= w->grace_at ? 0 : (int)(w->grace_at - now);
        }
        (void)poll(fds, 3, timeout);
        if (fds[2].revents)
            pkcli_passthrough_forward(w->pt, 0);
        if (w->sigfd >= 0 && (fds[1].revents & POLLIN)) {
            struct signalfd_siginfo si;
            while (read(w->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
                int sig = (int)si.ssi_signo;
                if (sig == SIGWINCH) {
                    if (w->on_winch)
                        w->on_winch(w->user);
                    continue;
                }
                w->forwarded = sig;
                if (w->on_signal)
                    w->on_signal(w->user, sig);
                if (w->on_grace && !w->grace_at && !w->grace_fired)
                    w->grace_at = pkcli_now_ms() + w->grace_ms;
            }
        }
        if (w->grace_at && pkcli_now_ms() >= w->grace_at) {
            w->grace_at = 0;
            w->grace_fired = 1;
            w->on_grace(w->user);
        }
        if (fds[0].revents)
            break;
    }
    return NULL;
}

int pkcli_watch_start(pkcli_watch *w)
{
    w->forwarded = 0;
    w->grace_at = 0;
    w->grace_fired = 0;
    w->started = 0;
    w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->stop_fd < 0)
        return pkcli_die("eventfd: %s", strerror(errno));
    int err = pthread_create(&w->thread, NULL, watch_main, w);
    if (err != 0) {
        close(w->stop_fd);
        w->stop_fd = -1;
        return pkcli_die("pthread_create: %s", strerror(err));
    }
    w->started = 1;
    return 0;
}

void pkcli_watch_stop(pkcli_watch *w)
{
    if (!w->started)
        return;
    uint64_t one = 1;
    ssize_t n = write(w->stop_fd, &one, sizeof one);
    (void)n;
    pthread_join(w->thread, NULL);
    close(w->stop_fd);
    w->stop_fd = -1;
    w->started = 0;
}

/* ------------------------------------------------------------ stop trigger */

static void trigger_token(void *user, int sig)
{
    (void)sig;
    pk_cancel_trigger(user);
}

int pkcli_stop_trigger_start(pkcli_stop_trigger *t, pk_cancel *token)
{
    t->token = token;
    t->watch = NULL;
    t->sigfd = pkcli_signals_block(0);
    pkcli_watch *w = calloc(1, sizeof *w);
    int status = w ? 0 : pkcli_die("out of memory");
    if (w) {
        *w = (pkcli_watch){.sigfd = t->sigfd, .on_signal = trigger_token, .user = token};
        if (pkcli_watch_start(w) != 0)
            status = EXIT_PK_ERROR;
    }
    if (status != 0) {
        free(w);
        if (t->sigfd >= 0)
            close(t->sigfd);
        t->sigfd = -1;
        return status;
    }
    t->watch = w;
    return 0;
}

int pkcli_stop_trigger_end(pkcli_stop_trigger *t)
{
    pkcli_watch *w = t->watch;
    int forwarded = 0;
    if (w) {
        pkcli_watch_stop(w);
        forwarded = w->forwarded;
        free(w);
        t->watch = NULL;
    }
    if (t->sigfd >= 0)
        close(t->sigfd);
    t->sigfd = -1;
    return forwarded;
}
