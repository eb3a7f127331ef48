/* One run of a command for the higher layers (retry, supervision). */
#include "attempt.h"

#include <errno.h>
#include <signal.h>

#include "error.h"
#include "sys.h"

int pk__attempt_start(pk_command_obj *cmd, pk_attempt *a)
{
    a->loop = NULL;
    a->proc = NULL;
    int rc = pk__loop_create(&a->loop);
    if (rc != PK_OK)
        return rc;
    rc = pk__loop_start(a->loop, cmd, NULL, NULL, &a->proc);
    if (rc != PK_OK) {
        pk__loop_close(a->loop);
        pk__object_unref(&a->loop->obj);
        a->loop = NULL;
        a->proc = NULL;
    }
    return rc;
}

int pk__attempt_wait(pk_attempt *a, pk_cancel_obj *stop, uint32_t grace_ms, int *stopped)
{
    pk_process_obj *p = a->proc;
    int stopping = 0, killed = 0, rc = PK_OK;
    uint64_t kill_at = 0;
    while (rc == PK_OK && !atomic_load(&p->done)) {
        if (stop && !stopping && pk__cancel_is_triggered(stop)) {
            stopping = 1;
            int sig = p->plan.timeout_signal > 0 ? p->plan.timeout_signal : SIGTERM;
            if (sig != SIGKILL && pk__process_signal(p, sig) == PK_OK) {
                kill_at = pk__now_ns() + (uint64_t)grace_ms * 1000000u;
            } else {
                /* SIGKILL asked for, or no polite signal here (Windows):
                 * the graceful stop is the kill. */
                pk__clear_error();
                pk__process_cancel(p);
                killed = 1;
            }
            continue;
        }
        if (stopping) {
            int timeout = -1;
            if (!killed) {
                uint64_t now = pk__now_ns();
                if (now >= kill_at) {
                    pk__process_cancel(p); /* SIGKILL to the tree; the run ends as cancelled */
                    killed = 1;
                    continue;
                }
                timeout = pk__ms_until(kill_at, now);
            }
            rc = pk__loop_run_once(a->loop, timeout);
        } else if (stop) {
            rc = pk__loop_run_once_watching(a->loop, -1, stop);
        } else {
            rc = pk__loop_run_once(a->loop, -1);
        }
    }
    if (stopped)
        *stopped = stopping;
    return rc;
}

int pk__attempt_end(pk_attempt *a, pk_result_obj **out)
{
    int rc = PK_OK;
    pk_result_obj *r = NULL;
    if (atomic_load(&a->proc->done)) {
        r = a->proc->result;
        if (r)
            pk__object_ref(&r->obj);
        else
            rc = pk__fail(PK_ERR_NOMEM, "%s: out of memory building the result", a->proc->plan.program);
    }
    pk__object_unref(&a->proc->obj);
    pk__loop_close(a->loop);
    pk__object_unref(&a->loop->obj);
    a->proc = NULL;
    a->loop = NULL;
    *out = r;
    return rc;
}

struct pk_result *pk__result_lend(pk_result_obj *r)
{
    if (!r)
        return NULL;
    pk__object_ref(&r->obj);
    void *h;
    if (pk__handle_new(&r->obj, &h) != PK_OK) {
        pk__object_unref(&r->obj);
        return NULL;
    }
    return h;
}

void pk__result_unlend(struct pk_result *handle)
{
    pk_object *obj;
    /* Fails only if the callback freed the handle itself: nothing to do. */
    if (handle && pk__handle_retire(handle, PK_OBJ_RESULT, "result", &obj) == PK_OK)
        pk__object_unref(obj);
}

int pk__attempt_check_stdin(pk_command_obj *cmd, const char *fn, int allow_fd)
{
    pthread_mutex_lock(&cmd->lock);
    int mode = cmd->stdin_mode;
    pthread_mutex_unlock(&cmd->lock);
    if (mode == PK_IN_PIPE)
        return pk__fail(PK_ERR_INVALID,
                        "%s: stdin is an interactive pipe (pk_command_stdin_pipe), which cannot be replayed on a "
                        "second run; give the input with pk_command_stdin_bytes or pk_command_stdin_file",
                        fn);
    if (mode == PK_IN_FD && !allow_fd)
        return pk__fail(PK_ERR_INVALID,
                        "%s: stdin is a caller fd (pk_command_stdin_fd), which a first run consumes and a second "
                        "cannot replay; give the input with pk_command_stdin_bytes or pk_command_stdin_file",
                        fn);
    return PK_OK;
}

pk_cancel_obj *pk__attempt_cancel_token(pk_command_obj *cmd)
{
    pthread_mutex_lock(&cmd->lock);
    pk_cancel_obj *token = cmd->cancel;
    if (token)
        pk__object_ref(&token->obj);
    pthread_mutex_unlock(&cmd->lock);
    return token;
}

/* base^e by squaring: the library does not link libm, so that
 * `cc app.c processkit.c` needs nothing more on the line. */
static double power_u32(double base, uint32_t e)
{
    double r = 1.0;
    for (; e; e >>= 1, base *= base)
        if (e & 1u)
            r *= base;
    return r;
}

uint64_t pk__backoff_ms(uint32_t initial_ms, double multiplier, uint32_t max_ms, uint32_t n)
{
    double d = (double)initial_ms * power_u32(multiplier, n > 0 ? n - 1 : 0);
    if (!(d < (double)max_ms)) /* also inf and nan */
        return max_ms;
    return (uint64_t)(d + 0.5); /* d >= 0: rounds half up */
}
