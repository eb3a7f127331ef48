/* Public run-and-capture API: handle checks around the loop core, the
 * blocking pk_command_run, and result accessors. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "abi_struct.h"
#include "error.h"
#include "loop.h"
#include "sys.h"


static int get_loop(pk_loop *handle, const char *fn, pk_loop_obj **out)
{
    pk_object *obj;
    int rc = pk__handle_get(handle, PK_OBJ_LOOP, fn, &obj);
    if (rc == PK_OK)
        *out = (pk_loop_obj *)obj;
    return rc;
}

static int get_process(pk_process *handle, const char *fn, pk_process_obj **out)
{
    pk_object *obj;
    int rc = pk__handle_get(handle, PK_OBJ_PROCESS, fn, &obj);
    if (rc == PK_OK)
        *out = (pk_process_obj *)obj;
    return rc;
}

static uint64_t deadline_after(int32_t timeout_ms)
{
    return timeout_ms < 0 ? UINT64_MAX : pk__now_ns() + (uint64_t)timeout_ms * 1000000u;
}

static int ms_left(uint64_t deadline)
{
    if (deadline == UINT64_MAX)
        return -1;
    return pk__ms_until(deadline, pk__now_ns());
}

int pk_loop_new(pk_loop **out)
{
    pk__clear_error();
    if (!out)
        return pk__fail(PK_ERR_INVALID, "pk_loop_new: out is NULL");
    pk_loop_obj *loop;
    int rc = pk__loop_create(&loop);
    if (rc != PK_OK)
        return rc;
    void *h;
    rc = pk__handle_new(&loop->obj, &h);
    if (rc != PK_OK) {
        pk__object_unref(&loop->obj);
        return rc;
    }
    *out = h;
    return PK_OK;
}

int pk_loop_free(pk_loop *handle)
{
    pk__clear_error();
    pk_loop_obj *loop;
    int rc = get_loop(handle, "pk_loop_free", &loop);
    if (rc != PK_OK)
        return rc;
    pthread_mutex_lock(&loop->lock);
    int busy = loop->in_dispatch;
    pthread_mutex_unlock(&loop->lock);
    pk__object_unref(&loop->obj);
    if (busy)
        return pk__fail(PK_ERR_STATE, "pk_loop_free: called from inside a callback of the same loop");
    pk_object *obj;
    rc = pk__handle_retire(handle, PK_OBJ_LOOP, "pk_loop_free", &obj);
    if (rc != PK_OK)
        return rc;
    pk__loop_begin_close((pk_loop_obj *)obj);
    pk__loop_close((pk_loop_obj *)obj);
    pk__object_unref(obj);
    return PK_OK;
}

int pk_loop_fd(pk_loop *handle, int *fd)
{
    pk__clear_error();
    pk_loop_obj *loop;
    int rc = get_loop(handle, "pk_loop_fd", &loop);
    if (rc != PK_OK)
        return rc;
    if (!fd)
        rc = pk__fail(PK_ERR_INVALID, "pk_loop_fd: fd is NULL");
    else
#ifdef _WIN32
        rc = pk__fail(PK_ERR_UNSUPPORTED, "pk_loop_fd: a Windows loop waits on handles, not an fd; drive it with "
                                          "pk_loop_run_once");
#else
        *fd = loop->epfd;
#endif
    pk__object_unref(&loop->obj);
    return rc;
}

int pk_loop_run_once(pk_loop *handle, int32_t timeout_ms)
{
    pk__clear_error();
    pk_loop_obj *loop;
    int rc = get_loop(handle, "pk_loop_run_once", &loop);
    if (rc != PK_OK)
        return rc;
    if (timeout_ms < -1)
        rc = pk__fail(PK_ERR_INVALID, "pk_loop_run_once: timeout_ms %d (use -1 to wait forever)", (int)timeout_ms);
    else {
        rc = pk__loop_run_once(loop, timeout_ms);
        (void)pk__loop_take_wakes(loop); /* this call was the one woken */
    }
    pk__object_unref(&loop->obj);
    return rc;
}

int pk_loop_wake(pk_loop *handle)
{
    pk__clear_error();
    pk_loop_obj *loop;
    int rc = get_loop(handle, "pk_loop_wake", &loop);
    if (rc != PK_OK)
        return rc;
    atomic_fetch_add(&loop->wakes, 1u);
    pk__loop_wake(loop);
    pk__object_unref(&loop->obj);
    return PK_OK;
}

int pk_loop_start(pk_loop *loop_handle, pk_command *cmd_handle, pk_group *group_handle, pk_process **out)
{
    pk__clear_error();
    if (!out)
        return pk__fail(PK_ERR_INVALID, "pk_loop_start: out is NULL");
    pk_loop_obj *loop;
    int rc = get_loop(loop_handle, "pk_loop_start", &loop);
    if (rc != PK_OK)
        return rc;
    pk_object *cmd_obj = NULL;
    pk_group_obj *group = NULL;
    rc = pk__handle_get(cmd_handle, PK_OBJ_COMMAND, "pk_loop_start", &cmd_obj);
    if (rc == PK_OK && group_handle)
        rc = pk__group_get(group_handle, "pk_loop_start", &group);
    pk_process_obj *proc = NULL;
    if (rc == PK_OK) {
        pthread_mutex_lock(&loop->lock);
        rc = loop->closed ? pk__fail(PK_ERR_STATE, "pk_loop_start: the loop is closed")
                          : pk__loop_start(loop, (pk_command_obj *)cmd_obj, group, NULL, &proc);
        pthread_mutex_unlock(&loop->lock);
    }
    if (rc == PK_OK) {
        void *h;
        rc = pk__handle_new(&proc->obj, &h);
        if (rc == PK_OK) {
            *out = h;
        } else {
            pk__process_cancel(proc);
            pk__object_unref(&proc->obj); /* the loop still finishes and reaps it */
        }
    }
    if (group)
        pk__object_unref(&group->obj);
    if (cmd_obj)
        pk__object_unref(cmd_obj);
    pk__object_unref(&loop->obj);
    return rc;
}

/* Looks up every handle in procs; all of them must be on this loop. */
static int get_all(pk_loop_obj *loop, pk_process *const *procs, size_t count, const char *fn, pk_process_obj ***out)
{
    if (!procs || count == 0)
        return pk__fail(PK_ERR_INVALID, "%s: no processes given", fn);
    pk_process_obj **objs = calloc(count, sizeof *objs);
    if (!objs)
        return pk__fail(PK_ERR_NOMEM, "%s: out of memory", fn);
    for (size_t i = 0; i < count; i++) {
        int rc = get_process(procs[i], fn, &objs[i]);
        if (rc == PK_OK && objs[i]->loop != loop) {
            pk__object_unref(&objs[i]->obj);
            rc = pk__fail(PK_ERR_INVALID, "%s: process %zu belongs to another loop", fn, i);
        }
        if (rc != PK_OK) {
            for (size_t j = 0; j < i; j++)
                pk__object_unref(&objs[j]->obj);
            free(objs);
            return rc;
        }
    }
    *out = objs;
    return PK_OK;
}

static int wait_on(pk_loop *handle, pk_process *const *procs, size_t count, int32_t timeout_ms, int all, size_t *index,
                   const char *fn)
{
    pk__clear_error();
    pk_loop_obj *loop;
    int rc = get_loop(handle, fn, &loop);
    if (rc != PK_OK)
        return rc;
    pk_process_obj **objs = NULL;
    if (timeout_ms < -1)
        rc = pk__fail(PK_ERR_INVALID, "%s: timeout_ms %d (use -1 to wait forever)", fn, (int)timeout_ms);
    else if (!all && !index)
        rc = pk__fail(PK_ERR_INVALID, "%s: index is NULL", fn);
    else
        rc = get_all(loop, procs, count, fn, &objs);
    uint64_t deadline = deadline_after(timeout_ms);
    while (rc == PK_OK) {
        size_t finished = 0, first = count;
        for (size_t i = 0; i < count; i++) {
            if (atomic_load(&objs[i]->done)) {
                finished++;
                if (first == count)
                    first = i;
            }
        }
        if (all ? finished == count : finished > 0) {
            if (!all)
                *index = first;
            break;
        }
        int left = ms_left(deadline);
        if (left == 0) {
            rc = pk__fail(PK_ERR_TIMEOUT, "%s: %s still running after %d ms", fn, all ? "some are" : "all are",
                          (int)timeout_ms);
            break;
        }
        rc = pk__loop_turn(loop, left, fn);
    }
    if (objs) {
        for (size_t i = 0; i < count; i++)
            pk__object_unref(&objs[i]->obj);
        free(objs);
    }
    pk__object_unref(&loop->obj);
    return rc;
}

int pk_loop_wait_any(pk_loop *loop, pk_process *const *procs, size_t count, int32_t timeout_ms, size_t *index)
{
    return wait_on(loop, procs, count, timeout_ms, 0, index, "pk_loop_wait_any");
}

int pk_loop_wait_all(pk_loop *loop, pk_process *const *procs, size_t count, int32_t timeout_ms)
{
    return wait_on(loop, procs, count, timeout_ms, 1, NULL, "pk_loop_wait_all");
}

int pk_process_pid(pk_process *handle, int32_t *pid)
{
    pk__clear_error();
    pk_process_obj *p;
    int rc = get_process(handle, "pk_process_pid", &p);
    if (rc != PK_OK)
        return rc;
    if (!pid)
        rc = pk__fail(PK_ERR_INVALID, "pk_process_pid: pid is NULL");
    else
        *pid = (int32_t)p->pid;
    pk__object_unref(&p->obj);
    return rc;
}

int pk_process_readiness(pk_process *handle, pk_readiness_info *out)
{
    pk__clear_error();
    pk_process_obj *p;
    int rc = get_process(handle, "pk_process_readiness", &p);
    if (rc != PK_OK)
        return rc;
    if (!out) {
        rc = pk__fail(PK_ERR_INVALID, "pk_process_readiness: out is NULL");
    } else {
        pk_readiness_info copy;
        pthread_mutex_lock(&p->loop->lock);
        copy = p->readiness;
        pthread_mutex_unlock(&p->loop->lock);
        copy.size = sizeof copy; /* all zero before any probe: kind NONE, outcome PENDING */
        rc = pk__struct_out(&pk__layout_readiness_info, out, &copy, "pk_process_readiness: out");
    }
    pk__object_unref(&p->obj);
    return rc;
}

int pk_process_write(pk_process *handle, const void *data, size_t len)
{
    pk__clear_error();
    pk_process_obj *p;
    int rc = get_process(handle, "pk_process_write", &p);
    if (rc != PK_OK)
        return rc;
    if (!data && len) {
        rc = pk__fail(PK_ERR_INVALID, "pk_process_write: data is NULL with len %zu", len);
    } else {
        pthread_mutex_lock(&p->loop->lock);
        rc = atomic_load(&p->done) ? pk__fail(PK_ERR_STATE, "pk_process_write: the run is finished")
                                   : pk__process_write(p, data, len);
        pthread_mutex_unlock(&p->loop->lock);
    }
    pk__object_unref(&p->obj);
    return rc;
}

int pk_process_close_stdin(pk_process *handle)
{
    pk__clear_error();
    pk_process_obj *p;
    int rc = get_process(handle, "pk_process_close_stdin", &p);
    if (rc != PK_OK)
        return rc;
    pthread_mutex_lock(&p->loop->lock);
    rc = atomic_load(&p->done) ? PK_OK : pk__process_close_stdin(p);
    pthread_mutex_unlock(&p->loop->lock);
    pk__object_unref(&p->obj);
    return rc;
}

int pk_process_signal(pk_process *handle, int32_t sig)
{
    pk__clear_error();
    pk_process_obj *p;
    int rc = get_process(handle, "pk_process_signal", &p);
    if (rc != PK_OK)
        return rc;
    if (sig <= 0 || sig >= PK_NSIG)
        rc = pk__fail(PK_ERR_INVALID, "pk_process_signal: %d is not a signal number", (int)sig);
    else if (atomic_load(&p->done))
        rc = pk__fail(PK_ERR_NO_PROCESS, "pk_process_signal: the run is finished");
    else
        rc = pk__process_signal(p, sig);
    pk__object_unref(&p->obj);
    return rc;
}

int pk_process_cancel(pk_process *handle)
{
    pk__clear_error();
    pk_process_obj *p;
    int rc = get_process(handle, "pk_process_cancel", &p);
    if (rc != PK_OK)
        return rc;
    pk__process_cancel(p);
    pk__object_unref(&p->obj);
    return PK_OK;
}

int pk_process_done(pk_process *handle, int32_t *done)
{
    pk__clear_error();
    pk_process_obj *p;
    int rc = get_process(handle, "pk_process_done", &p);
    if (rc != PK_OK)
        return rc;
    if (!done)
        rc = pk__fail(PK_ERR_INVALID, "pk_process_done: done is NULL");
    else
        *done = atomic_load(&p->done);
    pk__object_unref(&p->obj);
    return rc;
}

static int publish_result(pk_result_obj *r, pk_result **out)
{
    pk__object_ref(&r->obj);
    void *h;
    int rc = pk__handle_new(&r->obj, &h);
    if (rc != PK_OK) {
        pk__object_unref(&r->obj);
        return rc;
    }
    *out = h;
    return PK_OK;
}

int pk_process_result(pk_process *handle, pk_result **out)
{
    pk__clear_error();
    pk_process_obj *p;
    int rc = get_process(handle, "pk_process_result", &p);
    if (rc != PK_OK)
        return rc;
    if (!out)
        rc = pk__fail(PK_ERR_INVALID, "pk_process_result: out is NULL");
    else if (!atomic_load(&p->done))
        rc = pk__fail(PK_ERR_STATE, "pk_process_result: the run is still going (drive the loop)");
    else if (!p->result)
        rc = pk__fail(PK_ERR_NOMEM, "pk_process_result: out of memory building the result");
    else
        rc = publish_result(p->result, out);
    pk__object_unref(&p->obj);
    return rc;
}

int pk_process_free(pk_process *handle)
{
    pk__clear_error();
    pk_object *obj;
    int rc = pk__handle_retire(handle, PK_OBJ_PROCESS, "pk_process_free", &obj);
    if (rc != PK_OK)
        return rc;
    /* A run nobody can ask about is killed; the loop still reaps it. */
    pk__process_cancel((pk_process_obj *)obj);
    pk__object_unref(obj);
    return PK_OK;
}

int pk_command_run(pk_command *handle, pk_result **out)
{
    pk__clear_error();
    if (!out)
        return pk__fail(PK_ERR_INVALID, "pk_command_run: out is NULL");
    pk_object *cmd;
    int rc = pk__handle_get(handle, PK_OBJ_COMMAND, "pk_command_run", &cmd);
    if (rc != PK_OK)
        return rc;
    pk_loop_obj *loop;
    rc = pk__loop_create(&loop);
    pk_process_obj *p = NULL;
    if (rc == PK_OK) {
        rc = pk__loop_start(loop, (pk_command_obj *)cmd, NULL, NULL, &p);
        while (rc == PK_OK && !atomic_load(&p->done))
            rc = pk__loop_run_once(loop, -1);
        if (rc == PK_OK && !p->result)
            rc = pk__fail(PK_ERR_NOMEM, "pk_command_run: out of memory building the result");
        if (rc == PK_OK)
            rc = publish_result(p->result, out);
        if (p)
            pk__object_unref(&p->obj);
        pk__loop_close(loop);
        pk__object_unref(&loop->obj);
    }
    pk__object_unref(cmd);
    return rc;
}

/* ---- readiness, terminals, stages ---- */

/* Looks a process up for a call that drives its loop. */
static int get_live_process(pk_process *handle, const char *fn, pk_process_obj **out)
{
    pk__clear_error();
    int rc = get_process(handle, fn, out);
    if (rc != PK_OK)
        return rc;
    pthread_mutex_lock(&(*out)->loop->lock);
    int closed = (*out)->loop->closed;
    pthread_mutex_unlock(&(*out)->loop->lock);
    if (closed) {
        pk__object_unref(&(*out)->obj);
        return pk__fail(PK_ERR_STATE, "%s: the process's loop was freed", fn);
    }
    return PK_OK;
}

static int put_live_process(pk_process_obj *p, int rc)
{
    pk__object_unref(&p->obj);
    return rc;
}

int pk_process_wait_for_line(pk_process *handle, int32_t stream, const char *pattern, uint32_t flags,
                             int32_t timeout_ms)
{
    pk_process_obj *p;
    int rc = get_live_process(handle, "pk_process_wait_for_line", &p);
    if (rc != PK_OK)
        return rc;
    if (!pattern)
        rc = pk__fail(PK_ERR_INVALID, "pk_process_wait_for_line: pattern is NULL");
    else if (stream != 0 && stream != PK_STREAM_STDOUT && stream != PK_STREAM_STDERR)
        rc = pk__fail(PK_ERR_INVALID, "pk_process_wait_for_line: stream %d (0 = either, 1, 2)", (int)stream);
    else if (flags & ~(uint32_t)PK_MATCH_REGEX)
        rc = pk__fail(PK_ERR_INVALID, "pk_process_wait_for_line: unknown flags 0x%x", (unsigned)flags);
    else if (timeout_ms < -1)
        rc = pk__fail(PK_ERR_INVALID, "pk_process_wait_for_line: timeout_ms %d", (int)timeout_ms);
    else
        rc = pk__process_wait_for_line(p, stream, pattern, flags, timeout_ms);
    return put_live_process(p, rc);
}

int pk_process_wait_for_port(pk_process *handle, uint16_t port, int32_t timeout_ms)
{
    pk_process_obj *p;
    int rc = get_live_process(handle, "pk_process_wait_for_port", &p);
    if (rc != PK_OK)
        return rc;
    if (port == 0)
        rc = pk__fail(PK_ERR_INVALID, "pk_process_wait_for_port: port 0");
    else if (timeout_ms < -1)
        rc = pk__fail(PK_ERR_INVALID, "pk_process_wait_for_port: timeout_ms %d", (int)timeout_ms);
    else
        rc = pk__process_wait_for_port(p, port, timeout_ms);
    return put_live_process(p, rc);
}

int pk_process_wait_for(pk_process *handle, pk_ready_fn ready, void *user, uint32_t interval_ms, int32_t timeout_ms)
{
    pk_process_obj *p;
    int rc = get_live_process(handle, "pk_process_wait_for", &p);
    if (rc != PK_OK)
        return rc;
    if (!ready)
        rc = pk__fail(PK_ERR_INVALID, "pk_process_wait_for: ready is NULL");
    else if (timeout_ms < -1)
        rc = pk__fail(PK_ERR_INVALID, "pk_process_wait_for: timeout_ms %d", (int)timeout_ms);
    else
        rc = pk__process_wait_for(p, ready, user, interval_ms, timeout_ms);
    return put_live_process(p, rc);
}

int pk_process_resize(pk_process *handle, uint16_t rows, uint16_t cols)
{
    pk_process_obj *p;
    int rc = get_live_process(handle, "pk_process_resize", &p);
    if (rc != PK_OK)
        return rc;
    if (!rows || !cols)
        rc = pk__fail(PK_ERR_INVALID, "pk_process_resize: a terminal needs at least one row and column");
    else if (atomic_load(&p->done))
        rc = pk__fail(PK_ERR_STATE, "pk_process_resize: the run is finished");
    else
        rc = pk__process_resize(p, rows, cols);
    return put_live_process(p, rc);
}
