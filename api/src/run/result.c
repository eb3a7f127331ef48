/* Results: turning a finished run into a result object (the same on every
 * OS), and the public pk_result_* functions that read it. */
#include <stdlib.h>
#include <string.h>

#include "abi_struct.h"
#include "error.h"
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

/* ---- the public pk_result_* functions ---- */

static int get_result(pk_result *handle, const char *fn, pk_result_obj **out)
{
    pk_object *obj;
    int rc = pk__handle_get(handle, PK_OBJ_RESULT, fn, &obj);
    if (rc == PK_OK)
        *out = (pk_result_obj *)obj;
    return rc;
}

int pk_result_info(pk_result *handle, pk_run_info *out)
{
    pk__clear_error();
    pk_result_obj *r;
    int rc = get_result(handle, "pk_result_info", &r);
    if (rc != PK_OK)
        return rc;
    rc = out ? pk__struct_out(&pk__layout_run_info, out, &r->info, "pk_result_info: out")
             : pk__fail(PK_ERR_INVALID, "pk_result_info: out is NULL");
    pk__object_unref(&r->obj);
    return rc;
}

int pk_result_output(pk_result *handle, int32_t stream, const uint8_t **data, size_t *len)
{
    pk__clear_error();
    pk_result_obj *r;
    int rc = get_result(handle, "pk_result_output", &r);
    if (rc != PK_OK)
        return rc;
    if (stream != PK_STREAM_STDOUT && stream != PK_STREAM_STDERR)
        rc = pk__fail(PK_ERR_INVALID, "pk_result_output: stream %d is neither stdout nor stderr", (int)stream);
    else if (!data || !len)
        rc = pk__fail(PK_ERR_INVALID, "pk_result_output: %s is NULL", !data ? "data" : "len");
    else {
        static const uint8_t empty[1] = {0};
        *data = r->data[stream] ? r->data[stream] : empty;
        *len = r->len[stream];
    }
    pk__object_unref(&r->obj);
    return rc;
}

/* The last non-empty line of a buffer, for error messages. Only the last
 * 4 KiB are looked at: a line longer than that is quoted from its end. */
static void last_line(const uint8_t *data, size_t len, char *out, size_t out_len)
{
    out[0] = '\0';
    size_t floor = len > 4096 ? len - 4096 : 0;
    while (len > floor && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
        len--;
    size_t start = len;
    while (start > floor && data[start - 1] != '\n')
        start--;
    if (len - start > out_len - 1)
        start = len - (out_len - 1);
    size_t n = len - start;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = data[start + i];
        out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c; /* no terminal control codes in messages */
    }
    out[n] = '\0';
}

int pk_result_check(pk_result *handle)
{
    pk__clear_error();
    pk_result_obj *r;
    int rc = get_result(handle, "pk_result_check", &r);
    if (rc != PK_OK)
        return rc;
    const pk_run_info *i = &r->info;
    char tail[201] = "";
    if (!i->success) {
        last_line(r->data[2], r->len[2], tail, sizeof tail);
        if (!tail[0])
            last_line(r->data[1], r->len[1], tail, sizeof tail);
    }
    const char *sep = tail[0] ? ": " : "";
    if (i->success)
        rc = PK_OK;
    else if (i->outcome == PK_OUTCOME_CANCELLED)
        rc = pk__fail(PK_ERR_CANCELLED, "%s: cancelled", r->program);
    else if (i->outcome == PK_OUTCOME_TIMED_OUT)
        rc = pk__fail(PK_ERR_TIMEOUT, "%s: timed out after %u ms%s%s", r->program, r->timeout_ms, sep, tail);
    else if (i->outcome == PK_OUTCOME_STATUS_LOST)
        rc = pk__fail(PK_ERR_NO_PROCESS,
                      "%s: ended, but the host reaped it and this kernel (before 6.15) kept no exit status",
                      r->program);
    else if (i->outcome == PK_OUTCOME_SIGNALLED)
        rc = pk__fail(PK_ERR_FAILED, "%s: killed by signal %d%s%s", r->program, (int)i->signal, sep, tail);
    else if (i->overflowed)
        rc = pk__fail(PK_ERR_OVERFLOW, "%s: output exceeded its cap (stdout %llu bytes, stderr %llu bytes)",
                      r->program, (unsigned long long)i->stdout_bytes, (unsigned long long)i->stderr_bytes);
    else
        rc = pk__fail(PK_ERR_FAILED, "%s: exited with code %d%s%s", r->program, (int)i->exit_code, sep, tail);
    pk__object_unref(&r->obj);
    return rc;
}

int pk_result_free(pk_result *handle)
{
    pk__clear_error();
    pk_object *obj;
    int rc = pk__handle_retire(handle, PK_OBJ_RESULT, "pk_result_free", &obj);
    if (rc == PK_OK)
        pk__object_unref(obj);
    return rc;
}

int pk_result_stage_info(pk_result *handle, uint32_t index, pk_run_info *out)
{
    pk__clear_error();
    pk_result_obj *r;
    int rc = get_result(handle, "pk_result_stage_info", &r);
    if (rc != PK_OK)
        return rc;
    if (!out)
        rc = pk__fail(PK_ERR_INVALID, "pk_result_stage_info: out is NULL");
    else if (index >= r->info.stage_count)
        rc = pk__fail(PK_ERR_INVALID, "pk_result_stage_info: stage %u of %u", (unsigned)index,
                      (unsigned)r->info.stage_count);
    else
        rc = pk__struct_out(&pk__layout_run_info, out, r->stages ? &r->stages[index] : &r->info,
                            "pk_result_stage_info: out");
    pk__object_unref(&r->obj);
    return rc;
}
