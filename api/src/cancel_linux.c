/* A token's waitable object on Linux: an eventfd. */
#include <errno.h>
#include <stdint.h>
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
