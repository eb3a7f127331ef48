/* pk_command_run_retry: run a command again after a failure, with capped
 * exponential backoff and full jitter, a caller classifier, and
 * cancellation that is never retried. */
#include <math.h>

#include "abi_struct.h"
#include "attempt.h"
#include "clock.h"
#include "error.h"

static int validate_retry_options(const pk_retry_options *o)
{
    if (o->max_attempts == 0)
        return pk__fail(PK_ERR_INVALID, "pk_command_run_retry: max_attempts is 0 (the first run counts as one)");
    if (!isfinite(o->multiplier) || o->multiplier < 1.0)
        return pk__fail(PK_ERR_INVALID, "pk_command_run_retry: multiplier %g (it must be finite and at least 1)",
                        o->multiplier);
    if (o->reserved != 0)
        return pk__fail(PK_ERR_INVALID, "pk_command_run_retry: reserved is %d (it must be zero)", (int)o->reserved);
    return PK_OK;
}

/* The delay after attempt n (n >= 1) failed, before attempt n + 1. */
static uint64_t delay_after(const pk_retry_options *o, uint32_t n)
{
    uint64_t d = pk__backoff_ms(o->initial_delay_ms, o->multiplier, o->max_delay_ms, n);
    if (o->jitter) /* full jitter: uniform over the whole millisecond range [0, d] */
        d = (uint64_t)(pk__clock_random() * (double)(d + 1));
    return d;
}

/* Sleeps before the next attempt; PK_ERR_CANCELLED if the command's token
 * is (or becomes) triggered, which ends the retries at once. */
static int back_off(pk_command_obj *cmd, uint64_t delay_ms, uint32_t attempt)
{
    pk_cancel_obj *token = pk__attempt_cancel_token(cmd);
    int rc = PK_OK;
    if (!token || !pk__cancel_is_triggered(token)) {
        pk_cancel_wait wait;
        pk__clock_sleep_ms(delay_ms, pk__cancel_wait_any(token, NULL, &wait));
        pk__cancel_wait_release(&wait);
    }
    if (token && pk__cancel_is_triggered(token))
        rc = pk__fail(PK_ERR_CANCELLED, "%s: cancelled while waiting to retry after attempt %u", cmd->program,
                      (unsigned)attempt);
    if (token)
        pk__object_unref(&token->obj);
    return rc;
}

int pk_command_run_retry(pk_command *handle, const pk_retry_options *opts, pk_retry_fn classify, void *user,
                         pk_result **out)
{
    pk__clear_error();
    if (!out)
        return pk__fail(PK_ERR_INVALID, "pk_command_run_retry: out is NULL");
    pk_retry_options o = PK_RETRY_OPTIONS_INIT;
    int rc = opts ? pk__struct_in(&pk__layout_retry_options, &o, opts, "pk_command_run_retry: opts") : PK_OK;
    if (rc == PK_OK)
        rc = validate_retry_options(&o);
    if (rc != PK_OK)
        return rc;
    pk_object *cmd_obj; /* pk__command_get would hold the builder's lock */
    rc = pk__handle_get(handle, PK_OBJ_COMMAND, "pk_command_run_retry", &cmd_obj);
    if (rc != PK_OK)
        return rc;
    pk_command_obj *cmd = (pk_command_obj *)cmd_obj;
    rc = pk__attempt_check_stdin(cmd, "pk_command_run_retry", 0);

    pk_result_obj *last = NULL;
    for (uint32_t attempt = 1; rc == PK_OK; attempt++) {
        pk_attempt a;
        rc = pk__attempt_start(cmd, &a);
        if (rc != PK_OK)
            break;
        rc = pk__attempt_wait(&a, NULL, 0, NULL);
        pk_result_obj *r;
        int end_rc = pk__attempt_end(&a, &r);
        if (rc == PK_OK)
            rc = end_rc;
        if (last)
            pk__object_unref(&last->obj); /* only the last attempt's result is kept */
        last = r;
        if (rc != PK_OK)
            break;
        if (r->info.success || r->info.outcome == PK_OUTCOME_CANCELLED || attempt >= o.max_attempts)
            break;
        if (classify) {
            pk_result *lent = pk__result_lend(r);
            int again = classify(user, lent, attempt);
            pk__result_unlend(lent);
            pk__clear_error(); /* whatever the classifier's own calls left */
            if (!again)
                break;
        }
        rc = back_off(cmd, delay_after(&o, attempt), attempt);
    }
    if (rc == PK_OK) {
        void *h;
        rc = pk__handle_new(&last->obj, &h); /* the table takes our reference */
        if (rc == PK_OK) {
            *out = h;
            last = NULL;
        }
    }
    if (last)
        pk__object_unref(&last->obj);
    pk__object_unref(&cmd->obj);
    return rc;
}
