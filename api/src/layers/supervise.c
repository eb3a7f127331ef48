/* pk_supervise: keep a command running under a restart policy, with capped
 * exponential backoff and jitter, a restart cap, a storm guard, a stop
 * predicate and a stop token that ends the current run gracefully. */
#include <math.h>
#include <stdlib.h>

#include "abi_struct.h"
#include "attempt.h"
#include "clock.h"
#include "error.h"

/* How long a run stopped by the stop token gets between its timeout signal
 * and SIGKILL. */
#define STOP_GRACE_MS 2000
/* The storm guard keeps one timestamp per counted restart. */
#define STORM_RESTARTS_MAX (1u << 20)

static int validate_supervise_options(const pk_supervise_options *o)
{
    if (o->restart < PK_RESTART_NEVER || o->restart > PK_RESTART_ALWAYS)
        return pk__fail(PK_ERR_INVALID, "pk_supervise: restart %d is not a pk_restart", (int)o->restart);
    if (!isfinite(o->backoff_multiplier) || o->backoff_multiplier < 1.0)
        return pk__fail(PK_ERR_INVALID, "pk_supervise: backoff_multiplier %g (it must be finite and at least 1)",
                        o->backoff_multiplier);
    if (o->storm_action != PK_STORM_GIVE_UP && o->storm_action != PK_STORM_PAUSE)
        return pk__fail(PK_ERR_INVALID, "pk_supervise: storm_action %d is not a pk_storm_action", (int)o->storm_action);
    if (o->storm_restarts > STORM_RESTARTS_MAX)
        return pk__fail(PK_ERR_INVALID, "pk_supervise: storm_restarts %u is over the limit of %u",
                        (unsigned)o->storm_restarts, STORM_RESTARTS_MAX);
    if (o->storm_restarts && !o->storm_window_ms)
        return pk__fail(PK_ERR_INVALID, "pk_supervise: storm_restarts is %u but storm_window_ms is 0",
                        (unsigned)o->storm_restarts);
    return PK_OK;
}

typedef struct sv {
    pk_supervise_options o;
    pk_supervise_fn on_event;
    void *user;
    uint64_t *ring; /* start times of the last storm_restarts restarts */
    uint32_t ring_next, ring_count;
    pk_supervise_report rep;
} sv;

static void emit(sv *s, int32_t event, uint32_t restarts, uint32_t delay_ms)
{
    if (event == PK_SUPERVISE_STOPPED || event == PK_SUPERVISE_GAVE_UP)
        s->rep.stop_reason = event;
    if (s->on_event)
        s->on_event(s->user, event, restarts, delay_ms, NULL);
}

static int triggered(pk_cancel_obj *token)
{
    return token && pk__cancel_is_triggered(token);
}

static int cmd_cancelled(pk_command_obj *cmd)
{
    pk_cancel_obj *token = pk__attempt_cancel_token(cmd);
    int yes = triggered(token);
    if (token)
        pk__object_unref(&token->obj);
    return yes;
}

/* Sleeps, waking early when the stop token or the command's own token
 * triggers. */
static void sleep_watching(uint64_t ms, pk_cancel_obj *stop, pk_command_obj *cmd)
{
    pk_cancel_obj *token = pk__attempt_cancel_token(cmd);
    if (!triggered(stop) && !triggered(token)) {
        pk_cancel_wait wait;
        pk__clock_sleep_ms(ms, pk__cancel_wait_any(stop, token, &wait));
        pk__cancel_wait_release(&wait);
    }
    if (token)
        pk__object_unref(&token->obj);
}

static void storm_record(sv *s, uint64_t now)
{
    if (!s->ring)
        return;
    s->ring[s->ring_next] = now;
    s->ring_next = (s->ring_next + 1) % s->o.storm_restarts;
    if (s->ring_count < s->o.storm_restarts)
        s->ring_count++;
}

/* storm_restarts restarts, the oldest of them no more than storm_window_ms ago. */
static int storm_tripped(const sv *s, uint64_t now)
{
    if (!s->ring || s->ring_count < s->o.storm_restarts)
        return 0;
    uint64_t oldest = s->ring[s->ring_next]; /* the ring is full: the next slot holds the oldest */
    return now - oldest <= s->o.storm_window_ms;
}

/* The delay before the next restart after `streak` runs in a row that did not succeed (0 after a success). */
static uint32_t restart_delay(const sv *s, uint32_t streak)
{
    uint64_t d = pk__backoff_ms(s->o.backoff_initial_ms, s->o.backoff_multiplier, s->o.backoff_max_ms,
                                streak ? streak : 1);
    if (s->o.jitter)
        d = (uint64_t)((double)d * (0.5 + pk__clock_random()));
    return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

int pk_supervise(pk_command *handle, const pk_supervise_options *opts, pk_supervise_fn on_event,
                 pk_stop_when_fn stop_when, void *user, pk_cancel *stop_handle, pk_supervise_report *report)
{
    pk__clear_error();
    sv s = {.o = PK_SUPERVISE_OPTIONS_INIT, .on_event = on_event, .user = user, .rep = PK_SUPERVISE_REPORT_INIT};
    int rc = opts ? pk__struct_in(&pk__layout_supervise_options, &s.o, opts, "pk_supervise: opts") : PK_OK;
    if (rc == PK_OK)
        rc = validate_supervise_options(&s.o);
    if (rc == PK_OK && report)
        rc = pk__struct_check(&pk__layout_supervise_report, report, "pk_supervise: report");
    if (rc != PK_OK)
        return rc;
    pk_object *cmd_obj; /* pk__command_get would hold the builder's lock */
    rc = pk__handle_get(handle, PK_OBJ_COMMAND, "pk_supervise", &cmd_obj);
    if (rc != PK_OK)
        return rc;
    pk_command_obj *cmd = (pk_command_obj *)cmd_obj;
    pk_cancel_obj *stop = NULL;
    if (stop_handle) {
        pk_object *obj;
        rc = pk__handle_get(stop_handle, PK_OBJ_CANCEL, "pk_supervise: stop", &obj);
        if (rc == PK_OK)
            stop = (pk_cancel_obj *)obj;
    }
    /* A caller fd is fine for one run (NEVER); a pipe nobody can write never is. */
    if (rc == PK_OK)
        rc = pk__attempt_check_stdin(cmd, "pk_supervise", s.o.restart == PK_RESTART_NEVER);
    if (rc == PK_OK && s.o.storm_restarts) {
        s.ring = calloc(s.o.storm_restarts, sizeof *s.ring);
        if (!s.ring)
            rc = pk__fail(PK_ERR_NOMEM, "pk_supervise: out of memory for the storm guard");
    }

    uint32_t streak = 0; /* runs in a row that did not succeed */
    while (rc == PK_OK) {
        /* A stop, or a cancelled command (never restarted), ends it before any start. */
        if (triggered(stop) || cmd_cancelled(cmd)) {
            emit(&s, PK_SUPERVISE_STOPPED, s.rep.restarts, 0);
            break;
        }
        pk_attempt a;
        rc = pk__attempt_start(cmd, &a);
        if (rc != PK_OK)
            break;
        if (s.rep.runs++ > 0) {
            s.rep.restarts++;
            storm_record(&s, pk__clock_now_ms());
        }
        emit(&s, PK_SUPERVISE_STARTED, s.rep.restarts, 0);

        int stopped = 0;
        rc = pk__attempt_wait(&a, stop, STOP_GRACE_MS, &stopped);
        pk_result_obj *r;
        int end_rc = pk__attempt_end(&a, &r);
        if (rc == PK_OK)
            rc = end_rc;
        if (rc != PK_OK) {
            if (r)
                pk__object_unref(&r->obj);
            break;
        }
        s.rep.stop_reason = PK_SUPERVISE_EXITED;
        pk_result *lent = pk__result_lend(r);
        if (on_event)
            on_event(user, PK_SUPERVISE_EXITED, s.rep.restarts, 0, lent);
        /* A stopped or cancelled run is never restarted. */
        int halt = stopped || r->info.outcome == PK_OUTCOME_CANCELLED || triggered(stop);
        if (!halt && stop_when)
            halt = stop_when(user, lent) != 0;
        pk__result_unlend(lent);
        pk__clear_error(); /* whatever the callbacks' own calls left */
        int failed = !r->info.success;
        pk__object_unref(&r->obj);

        if (halt) {
            emit(&s, PK_SUPERVISE_STOPPED, s.rep.restarts, 0);
            break;
        }
        if (s.o.restart == PK_RESTART_NEVER || (s.o.restart == PK_RESTART_ON_FAILURE && !failed))
            break; /* the policy is satisfied: stop_reason stays EXITED */
        if (s.o.max_restarts && s.rep.restarts >= s.o.max_restarts) {
            emit(&s, PK_SUPERVISE_GAVE_UP, s.rep.restarts, 0);
            break;
        }
        streak = failed ? streak + 1 : 0;
        if (storm_tripped(&s, pk__clock_now_ms())) {
            if (s.o.storm_action == PK_STORM_GIVE_UP) {
                emit(&s, PK_SUPERVISE_GAVE_UP, s.rep.restarts, 0);
                break;
            }
            emit(&s, PK_SUPERVISE_STORM_PAUSE, s.rep.restarts, s.o.storm_pause_ms);
            s.rep.storm_pauses++;
            sleep_watching(s.o.storm_pause_ms, stop, cmd);
            s.ring_count = s.ring_next = 0;
            if (triggered(stop) || cmd_cancelled(cmd))
                continue; /* reported at the top */
        }
        uint32_t delay = restart_delay(&s, streak);
        emit(&s, PK_SUPERVISE_RESTARTING, s.rep.restarts + 1, delay);
        sleep_watching(delay, stop, cmd);
    }

    if (rc == PK_OK && report)
        rc = pk__struct_out(&pk__layout_supervise_report, report, &s.rep, "pk_supervise: report");
    free(s.ring);
    if (stop)
        pk__object_unref(&stop->obj);
    pk__object_unref(&cmd->obj);
    return rc;
}
