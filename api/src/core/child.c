#include "child.h"

#include <stdlib.h>
#include <string.h>

#include "abi_struct.h"
#include "error.h"
#include "sys.h"

static void child_destroy(pk_object *obj)
{
    pk_child_obj *child = (pk_child_obj *)obj;
    if (child->proc != PK_PROC_REF_NONE)
        pk__proc_close(child->proc);
    pthread_mutex_destroy(&child->lock);
    free(child);
}

int pk__child_new(int32_t pid, pk_proc_ref proc, pk_child_obj **out)
{
    pk_child_obj *child = calloc(1, sizeof *child);
    if (!child)
        return pk__fail(PK_ERR_NOMEM, "out of memory for a child");
    pk__object_init(&child->obj, PK_OBJ_CHILD, child_destroy);
    pthread_mutex_init(&child->lock, NULL);
    child->pid = pid;
    child->proc = proc;
    child->status.size = sizeof child->status;
    atomic_init(&child->handle_released, 0);
    *out = child;
    return PK_OK;
}

int pk__child_reap(pk_child_obj *child, int timeout_ms)
{
    uint64_t deadline = timeout_ms > 0 ? pk__now_ns() + (uint64_t)timeout_ms * 1000000u : 0;
    for (;;) {
        pthread_mutex_lock(&child->lock);
        int rc = child->reaped || child->lost ? 1 : pk__child_reap_now(child);
        pthread_mutex_unlock(&child->lock);
        if (rc != 0 || timeout_ms == 0)
            return rc;
        int wait_ms = -1;
        if (timeout_ms > 0) {
            uint64_t now = pk__now_ns();
            if (now >= deadline)
                return 0;
            wait_ms = pk__ms_until(deadline, now);
        }
        int ready = pk__proc_wait(child, wait_ms);
        if (ready < 0)
            return ready;
    }
}

int pk__child_is_done(pk_child_obj *child)
{
    pthread_mutex_lock(&child->lock);
    int done = child->reaped || child->lost;
    pthread_mutex_unlock(&child->lock);
    return done;
}

static int get_child(pk_child *handle, const char *fn, pk_child_obj **out)
{
    pk__clear_error();
    pk_object *obj;
    int rc = pk__handle_get(handle, PK_OBJ_CHILD, fn, &obj);
    if (rc == PK_OK)
        *out = (pk_child_obj *)obj;
    return rc;
}

int pk_child_pid(pk_child *handle, int32_t *pid)
{
    pk_child_obj *child;
    int rc = get_child(handle, "pk_child_pid", &child);
    if (rc != PK_OK)
        return rc;
    if (!pid)
        rc = pk__fail(PK_ERR_INVALID, "pk_child_pid: pid is NULL");
    else
        *pid = (int32_t)child->pid;
    pk__object_unref(&child->obj);
    return rc;
}

int pk_child_pollfd(pk_child *handle, int *fd)
{
    pk_child_obj *child;
    int rc = get_child(handle, "pk_child_pollfd", &child);
    if (rc != PK_OK)
        return rc;
    if (!fd)
        rc = pk__fail(PK_ERR_INVALID, "pk_child_pollfd: fd is NULL");
    else
        rc = pk__proc_pollfd(child, fd);
    pk__object_unref(&child->obj);
    return rc;
}

int pk_child_wait(pk_child *handle, int32_t timeout_ms, pk_exit_status *status)
{
    pk_child_obj *child;
    int rc = get_child(handle, "pk_child_wait", &child);
    if (rc != PK_OK)
        return rc;
    if (timeout_ms < -1) {
        rc = pk__fail(PK_ERR_INVALID, "pk_child_wait: timeout_ms %d (use -1 to wait forever)", (int)timeout_ms);
    } else {
        rc = pk__child_reap(child, timeout_ms);
        if (rc == 0)
            rc = pk__fail(PK_ERR_TIMEOUT, "pk_child_wait: pid %d still running after %d ms", (int)child->pid,
                          (int)timeout_ms);
        else if (rc == 1 && child->lost)
            rc = pk__fail(PK_ERR_NO_PROCESS, "pk_child_wait: pid %d was reaped by someone else", (int)child->pid);
        else if (rc == 1)
            rc = status ? pk__struct_out(&pk__layout_exit_status, status, &child->status, "pk_child_wait: status")
                        : PK_OK;
    }
    pk__object_unref(&child->obj);
    return rc;
}

int pk_child_signal(pk_child *handle, int32_t sig)
{
    pk_child_obj *child;
    int rc = get_child(handle, "pk_child_signal", &child);
    if (rc != PK_OK)
        return rc;
    if (sig <= 0 || sig >= PK_NSIG) {
        rc = pk__fail(PK_ERR_INVALID, "pk_child_signal: %d is not a signal number", (int)sig);
    } else {
        /* Holding the lock keeps a concurrent reap from freeing the pid
         * between our check and the signal. */
        pthread_mutex_lock(&child->lock);
        if (child->reaped || child->lost)
            rc = pk__fail(PK_ERR_NO_PROCESS, "pk_child_signal: pid %d has already been reaped", (int)child->pid);
        else
            rc = pk__proc_signal(child, sig);
        pthread_mutex_unlock(&child->lock);
    }
    pk__object_unref(&child->obj);
    return rc;
}

int pk_child_free(pk_child *handle)
{
    pk__clear_error();
    pk_object *obj;
    int rc = pk__handle_retire(handle, PK_OBJ_CHILD, "pk_child_free", &obj);
    if (rc != PK_OK)
        return rc;
    atomic_store(&((pk_child_obj *)obj)->handle_released, 1);
    pk__object_unref(obj);
    return PK_OK;
}
