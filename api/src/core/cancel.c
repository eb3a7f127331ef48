/* Cancellation tokens: the portable part; the waitable object behind a
 * token is per OS (cancel_linux.c, cancel_windows.c). */
#include "cancel.h"

#include <stdlib.h>

#include "error.h"
#include "processkit.h"

static void cancel_destroy(pk_object *obj)
{
    pk_cancel_obj *token = (pk_cancel_obj *)obj;
    pk__cancel_os_close(token);
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
    int rc = pk__cancel_os_open(token);
    if (rc != PK_OK) {
        free(token);
        return rc;
    }
    pk__object_init(&token->obj, PK_OBJ_CANCEL, cancel_destroy);
    void *h;
    rc = pk__handle_new(&token->obj, &h);
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
    if (!atomic_exchange(&token->triggered, 1))
        pk__cancel_os_signal(token);
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
