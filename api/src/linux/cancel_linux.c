/* A token's waitable object on Linux: an eventfd. */
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cancel.h"
#include "error.h"

int pk__cancel_os_open(pk_cancel_obj *token)
{
    token->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return token->fd < 0 ? pk__fail_errno(PK_ERR_OS, errno, "pk_cancel_new: eventfd") : PK_OK;
}

void pk__cancel_os_signal(pk_cancel_obj *token)
{
    uint64_t one = 1;
    /* The counter is never read, so it stays readable for every watcher. */
    ssize_t n = write(token->fd, &one, sizeof one);
    (void)n;
}

void pk__cancel_os_close(pk_cancel_obj *token)
{
    close(token->fd);
}

pk_wait_ref pk__cancel_wait_any(pk_cancel_obj *a, pk_cancel_obj *b, pk_cancel_wait *storage)
{
    storage->epfd = -1;
    if (!a || !b)
        return a ? a->fd : b ? b->fd : PK_WAIT_NONE;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    if (ep >= 0 && (epoll_ctl(ep, EPOLL_CTL_ADD, a->fd, &ev) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, b->fd, &ev) < 0)) {
        close(ep);
        ep = -1;
    }
    storage->epfd = ep;
    /* Without the set, the first token alone still ends the wait. */
    return ep >= 0 ? ep : a->fd;
}

void pk__cancel_wait_release(pk_cancel_wait *storage)
{
    if (storage->epfd >= 0)
        close(storage->epfd);
    storage->epfd = -1;
}
