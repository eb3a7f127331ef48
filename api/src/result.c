/* Turning a finished run into a result object: the same on every OS. */
#include <stdlib.h>
#include <string.h>

#include "loop.h"

void pk__result_destroy(pk_object *obj)
{
    pk_result_obj *r = (pk_result_obj *)obj;
    for (int i = 0; i < 3; i++)
        free(r->data[i]);
    free(r->stages);
    free(r->program);
    free(r);
}

static int accepted(const pk_process_obj *p, int code)
{
    if (!p->plan.ok_count)
        return code == 0;
    for (size_t i = 0; i < p->plan.ok_count; i++)
        if (p->plan.ok_codes[i] == code)
            return 1;
    return 0;
}

pk_result_obj *pk__result_new(pk_process_obj *p)
{
    pk_result_obj *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    pk__object_init(&r->obj, PK_OBJ_RESULT, pk__result_destroy);
    r->program = strdup(p->plan.program);
    r->timeout_ms = p->plan.timeout_ms;
    pk_run_info *info = &r->info;
    info->size = sizeof *info;
    info->pid = (int32_t)p->pid;
    info->mechanism = p->mechanism;
    info->exit_code = -1;
    info->failed_stage = -1;
    info->stage_count = 1;
    if (p->status.kind == PK_EXIT_CODE)
        info->exit_code = p->status.code;
    else if (p->status.kind == PK_EXIT_SIGNAL)
        info->signal = p->status.signal;
    if (atomic_load(&p->cancel_requested))
        info->outcome = PK_OUTCOME_CANCELLED;
    else if (p->timed_out)
        info->outcome = PK_OUTCOME_TIMED_OUT;
    else if (p->status.kind == PK_EXIT_SIGNAL)
        info->outcome = PK_OUTCOME_SIGNALLED;
    else if (p->status.kind == PK_EXIT_RUNNING)
        info->outcome = PK_OUTCOME_STATUS_LOST; /* ended, reaped by the host, status not kept */
    else
        info->outcome = PK_OUTCOME_EXITED;
    for (int s = 1; s <= 2; s++) {
        r->data[s] = pk__capture_take(&p->cap[s], &r->len[s]);
        if (p->cap[s].truncated && p->cap[s].policy == PK_OVERFLOW_ERROR)
            info->overflowed = 1;
    }
    info->stdout_truncated = p->cap[1].truncated;
    info->stderr_truncated = p->cap[2].truncated;
    info->stdout_bytes = p->cap[1].total;
    info->stderr_bytes = p->cap[2].total;
    info->success = info->outcome == PK_OUTCOME_EXITED && accepted(p, info->exit_code) && !info->overflowed;
    info->duration_us = (p->end_ns - p->start_ns) / 1000u;
    return r;
}

