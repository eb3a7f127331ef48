#include "cancel.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "error.h"
#include "processkit.h"

static void cancel_destroy(pk_object *obj)
{
    pk_cancel_obj *token = (pk_cancel_obj *)obj;
    close(token->fd);
    free(token);
}

int pk__cancel_is_triggered(pk_cancel_obj *token)
{
    return atomic_load(&token->triggered);
}

int pk_cancel_new(pk_cancel **out)
{
    pk__clear_error();
    if (!out)
        return pk__fail(PK_ERR_INVALID, "pk_cancel_new: out is NULL");
    pk_cancel_obj *token = calloc(1, sizeof *token);
    if (!token)
        return pk__fail(PK_ERR_NOMEM, "pk_cancel_new: out of memory");
    token->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (token->fd < 0) {
        int err = errno;
        free(token);
        return pk__fail_errno(PK_ERR_OS, err, "pk_cancel_new: eventfd");
    }
    pk__object_init(&token->obj, PK_OBJ_CANCEL, cancel_destroy);
    void *h;
    int rc = pk__handle_new(&token->obj, &h);
    if (rc != PK_OK) {
        pk__object_unref(&token->obj);
        return rc;
    }
    *out = h;
    return PK_OK;
}

int pk_cancel_trigger(pk_cancel *handle)
{
    pk__clear_error();
    pk_object *obj;
    int rc = pk__handle_get(handle, PK_OBJ_CANCEL, "pk_cancel_trigger", &obj);
    if (rc != PK_OK)
        return rc;
    pk_cancel_obj *token = (pk_cancel_obj *)obj;
    if (!atomic_exchange(&token->triggered, 1)) {
        uint64_t one = 1;
        /* The counter is never read, so it stays readable for every watcher. */
        ssize_t n = write(token->fd, &one, sizeof one);
        (void)n;
    }
    pk__object_unref(obj);
    return PK_OK;
}

int pk_cancel_free(pk_cancel *handle)
{
    pk__clear_error();
    pk_object *obj;
    int rc = pk__handle_retire(handle, PK_OBJ_CANCEL, "pk_cancel_free", &obj);
    if (rc == PK_OK)
        pk__object_unref(obj);
    return rc;
}
