/* Pipelines: `a | b | c` with no shell. Every stage runs in one private
 * group, joined to the next by an OS pipe; the last stage's output is
 * captured like a single run's, and the outcome is attributed to the first
 * stage that failed (pipefail). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "loop.h"
#include "sys.h"

#ifdef SIGPIPE
#define PIPE_SIGNAL SIGPIPE
#else
#define PIPE_SIGNAL 13 /* Windows has none; a POSIX-style program may still exit 128 + 13 */
#endif

typedef struct pk_pipeline_obj {
    pk_object obj;
    pthread_mutex_t lock;
    pk_command_obj **stages; /* referenced */
    uint32_t *stage_flags;
    size_t count, cap;
    uint32_t flags;
    uint32_t timeout_ms, grace_ms;
    int timeout_signal;
    pk_cancel_obj *cancel; /* referenced */
} pk_pipeline_obj;

static void pipeline_destroy(pk_object *obj)
{
    pk_pipeline_obj *pl = (pk_pipeline_obj *)obj;
    for (size_t i = 0; i < pl->count; i++)
        pk__object_unref(&pl->stages[i]->obj);
    free(pl->stages);
    free(pl->stage_flags);
    if (pl->cancel)
        pk__object_unref(&pl->cancel->obj);
    pthread_mutex_destroy(&pl->lock);
    free(pl);
}

static int get_pipeline(pk_pipeline *handle, const char *fn, pk_pipeline_obj **out)
{
    pk__clear_error();
    pk_object *obj;
    int rc = pk__handle_get(handle, PK_OBJ_PIPELINE, fn, &obj);
    if (rc == PK_OK)
        *out = (pk_pipeline_obj *)obj;
    return rc;
}

int pk_pipeline_new(pk_pipeline **out)
{
    pk__clear_error();
    if (!out)
        return pk__fail(PK_ERR_INVALID, "pk_pipeline_new: out is NULL");
    pk_pipeline_obj *pl = calloc(1, sizeof *pl);
    if (!pl)
        return pk__fail(PK_ERR_NOMEM, "pk_pipeline_new: out of memory");
    pk__object_init(&pl->obj, PK_OBJ_PIPELINE, pipeline_destroy);
    pthread_mutex_init(&pl->lock, NULL);
    pl->timeout_signal = SIGTERM;
    void *h;
    int rc = pk__handle_new(&pl->obj, &h);
    if (rc != PK_OK) {
        pk__object_unref(&pl->obj);
        return rc;
    }
    *out = h;
    return PK_OK;
}

int pk_pipeline_free(pk_pipeline *handle)
{
    pk__clear_error();
    pk_object *obj;
    int rc = pk__handle_retire(handle, PK_OBJ_PIPELINE, "pk_pipeline_free", &obj);
    if (rc == PK_OK)
        pk__object_unref(obj);
    return rc;
}

int pk_pipeline_add(pk_pipeline *handle, pk_command *stage, uint32_t stage_flags)
{
    pk_pipeline_obj *pl;
    int rc = get_pipeline(handle, "pk_pipeline_add", &pl);
    if (rc != PK_OK)
        return rc;
    pk_object *cmd = NULL;
    if (stage_flags & ~(uint32_t)PK_STAGE_UNCHECKED)
        rc = pk__fail(PK_ERR_INVALID, "pk_pipeline_add: unknown stage flags 0x%x", (unsigned)stage_flags);
    else
        rc = pk__handle_get(stage, PK_OBJ_COMMAND, "pk_pipeline_add", &cmd);
    pthread_mutex_lock(&pl->lock);
    if (rc == PK_OK && pl->count == 256)
        rc = pk__fail(PK_ERR_INVALID, "pk_pipeline_add: 256 stages at most");
    if (rc == PK_OK && pl->count == pl->cap) {
        size_t cap = pl->cap ? pl->cap * 2 : 4;
        pk_command_obj **stages = realloc(pl->stages, cap * sizeof *stages);
        if (stages)
            pl->stages = stages;
        uint32_t *flags = stages ? realloc(pl->stage_flags, cap * sizeof *flags) : NULL;
        if (flags)
            pl->stage_flags = flags;
        if (!stages || !flags)
            rc = pk__fail(PK_ERR_NOMEM, "pk_pipeline_add: out of memory");
        else
            pl->cap = cap;
    }
    if (rc == PK_OK) {
        pl->stages[pl->count] = (pk_command_obj *)cmd;
        pl->stage_flags[pl->count++] = stage_flags;
        cmd = NULL; /* the pipeline keeps the reference */
    }
    pthread_mutex_unlock(&pl->lock);
    if (cmd)
        pk__object_unref(cmd);
    pk__object_unref(&pl->obj);
    return rc;
}

int pk_pipeline_flags(pk_pipeline *handle, uint32_t flags)
{
    pk_pipeline_obj *pl;
    int rc = get_pipeline(handle, "pk_pipeline_flags", &pl);
    if (rc != PK_OK)
        return rc;
    if (flags & ~(uint32_t)PK_PIPELINE_SIGPIPE_FAILS) {
        rc = pk__fail(PK_ERR_INVALID, "pk_pipeline_flags: unknown flags 0x%x", (unsigned)flags);
    } else {
        pthread_mutex_lock(&pl->lock);
        pl->flags = flags;
        pthread_mutex_unlock(&pl->lock);
    }
    pk__object_unref(&pl->obj);
    return rc;
}

int pk_pipeline_timeout(pk_pipeline *handle, uint32_t timeout_ms, int32_t sig, uint32_t grace_ms)
{
    pk_pipeline_obj *pl;
    int rc = get_pipeline(handle, "pk_pipeline_timeout", &pl);
    if (rc != PK_OK)
        return rc;
    if (sig < 0 || sig >= PK_NSIG) {
        rc = pk__fail(PK_ERR_INVALID, "pk_pipeline_timeout: %d is not a signal", (int)sig);
    } else {
        pthread_mutex_lock(&pl->lock);
        pl->timeout_ms = timeout_ms;
        pl->timeout_signal = sig ? sig : SIGTERM;
        pl->grace_ms = grace_ms;
        pthread_mutex_unlock(&pl->lock);
    }
    pk__object_unref(&pl->obj);
    return rc;
}

int pk_pipeline_cancel_on(pk_pipeline *handle, pk_cancel *token)
{
    pk_pipeline_obj *pl;
    int rc = get_pipeline(handle, "pk_pipeline_cancel_on", &pl);
    if (rc != PK_OK)
        return rc;
    pk_object *obj = NULL;
    if (token)
        rc = pk__handle_get(token, PK_OBJ_CANCEL, "pk_pipeline_cancel_on", &obj);
    if (rc == PK_OK) {
        pthread_mutex_lock(&pl->lock);
        if (pl->cancel)
            pk__object_unref(&pl->cancel->obj);
        pl->cancel = (pk_cancel_obj *)obj;
        pthread_mutex_unlock(&pl->lock);
    }
    pk__object_unref(&pl->obj);
    return rc;
}

/* Whether a finished stage fails the pipeline. A producer killed by SIGPIPE
 * only lost its reader, which is how pipelines end early by design; a shell
 * around such a producer reports it as exit code 128 + SIGPIPE. */
static int stage_failed(const pk_run_info *info, uint32_t stage_flags, uint32_t pipeline_flags)
{
    if (info->success || (stage_flags & PK_STAGE_UNCHECKED))
        return 0;
    int sigpipe = (info->outcome == PK_OUTCOME_SIGNALLED && info->signal == PIPE_SIGNAL) ||
                  (info->outcome == PK_OUTCOME_EXITED && info->exit_code == 128 + PIPE_SIGNAL);
    if (sigpipe && !(pipeline_flags & PK_PIPELINE_SIGPIPE_FAILS))
        return 0;
    return 1;
}

typedef struct run_state {
    pk_loop_obj *loop;
    pk_group_obj *group;
    pk_process_obj **procs;
    size_t started;
} run_state;

static int all_done(const run_state *st)
{
    for (size_t i = 0; i < st->started; i++)
        if (!atomic_load(&st->procs[i]->done))
            return 0;
    return 1;
}

static int deadline_ms(uint64_t at, uint64_t now)
{
    if (!at)
        return -1;
    return pk__ms_until(at, now);
}

/* Drives the loop until every stage is done, applying the pipeline's
 * timeout and cancellation to the whole group. */
static void drive(run_state *st, const pk_pipeline_obj *cfg, int *timed_out, int *cancelled)
{
    uint64_t start = pk__now_ns();
    uint64_t deadline = cfg->timeout_ms ? start + (uint64_t)cfg->timeout_ms * 1000000u : 0, grace_at = 0;
    while (!all_done(st)) {
        uint64_t now = pk__now_ns();
        if (cfg->cancel && !*cancelled && pk__cancel_is_triggered(cfg->cancel)) {
            *cancelled = 1;
            (void)pk__group_signal_obj(st->group, SIGKILL);
        }
        if (deadline && now >= deadline && !*timed_out) {
            *timed_out = 1;
            deadline = 0;
            /* A mechanism with no polite signal (a job object) is killed. */
            const int polite = cfg->timeout_signal != SIGKILL && (st->group->features & PK_FEATURE_SIGNALS);
            if (polite)
                (void)pk__group_signal_obj(st->group, cfg->timeout_signal);
            if (polite && cfg->grace_ms)
                grace_at = now + (uint64_t)cfg->grace_ms * 1000000u;
            else
                (void)pk__group_signal_obj(st->group, SIGKILL);
        }
        if (grace_at && now >= grace_at) {
            grace_at = 0;
            (void)pk__group_signal_obj(st->group, SIGKILL);
        }
        int wait = deadline_ms(deadline, now), g = deadline_ms(grace_at, now);
        if (g >= 0 && (wait < 0 || g < wait))
            wait = g;
        /* The token wakes the driver whichever stages are still running. */
        int rc = cfg->cancel && !*cancelled ? pk__loop_run_once_watching(st->loop, wait, cfg->cancel)
                                            : pk__loop_run_once(st->loop, wait);
        if (rc != PK_OK)
            break;
    }
}

/* The pipeline's result: the last stage's output, every stage's info, and
 * the outcome of the stage it is attributed to. */
static pk_result_obj *combine(run_state *st, const pk_pipeline_obj *cfg, int timed_out, int cancelled,
                              uint64_t duration_us)
{
    size_t n = st->started;
    pk_result_obj *r = calloc(1, sizeof *r);
    pk_run_info *stages = calloc(n, sizeof *stages);
    if (!r || !stages) {
        free(r);
        free(stages);
        return NULL;
    }
    pk__object_init(&r->obj, PK_OBJ_RESULT, pk__result_destroy);
    for (size_t i = 0; i < n; i++)
        if (st->procs[i]->result)
            stages[i] = st->procs[i]->result->info;
    pk_result_obj *last = st->procs[n - 1]->result;
    if (last) {
        for (int s = 1; s <= 2; s++) {
            r->data[s] = last->data[s];
            r->len[s] = last->len[s];
            last->data[s] = NULL;
            last->len[s] = 0;
        }
        r->info = last->info;
    }
    r->stages = stages;
    r->timeout_ms = cfg->timeout_ms;
    int failed = -1;
    for (size_t i = 0; i < n && failed < 0; i++)
        if (stage_failed(&stages[i], cfg->stage_flags[i], cfg->flags))
            failed = (int)i;
    pk_run_info *info = &r->info;
    info->stage_count = (uint32_t)n;
    info->failed_stage = failed;
    info->mechanism = st->group->mechanism;
    info->duration_us = duration_us;
    if (failed >= 0) {
        info->outcome = stages[failed].outcome;
        info->exit_code = stages[failed].exit_code;
        info->signal = stages[failed].signal;
        info->pid = stages[failed].pid;
    }
    if (cancelled)
        info->outcome = PK_OUTCOME_CANCELLED;
    else if (timed_out)
        info->outcome = PK_OUTCOME_TIMED_OUT;
    info->success = !cancelled && !timed_out && failed < 0;
    /* Messages name the stage the outcome belongs to. */
    size_t at = failed >= 0 ? (size_t)failed : n - 1;
    char name[300];
    pk__format(name, sizeof name, "stage %zu of %zu (%s)", at + 1, n, st->procs[at]->plan.program);
    r->program = strdup(name);
    return r;
}

int pk_pipeline_run(pk_pipeline *handle, pk_result **out)
{
    pk_pipeline_obj *pl;
    int rc = get_pipeline(handle, "pk_pipeline_run", &pl);
    if (rc != PK_OK)
        return rc;
    if (!out) {
        pk__object_unref(&pl->obj);
        return pk__fail(PK_ERR_INVALID, "pk_pipeline_run: out is NULL");
    }
    /* A consistent copy of the configuration; stages stay referenced. */
    pthread_mutex_lock(&pl->lock);
    pk_pipeline_obj cfg = *pl;
    size_t n = pl->count;
    pk_command_obj **stages = n ? malloc(n * sizeof *stages) : NULL;
    uint32_t *flags = n ? malloc(n * sizeof *flags) : NULL;
    if (stages && flags) {
        for (size_t i = 0; i < n; i++) {
            stages[i] = pl->stages[i];
            pk__object_ref(&stages[i]->obj);
            flags[i] = pl->stage_flags[i];
        }
    }
    if (cfg.cancel)
        pk__object_ref(&cfg.cancel->obj);
    pthread_mutex_unlock(&pl->lock);
    cfg.stages = stages;
    cfg.stage_flags = flags;
    pk__object_unref(&pl->obj);

    run_state st = {0};
    int (*pipes)[2] = NULL;
    if (n == 0)
        rc = pk__fail(PK_ERR_INVALID, "pk_pipeline_run: the pipeline has no stages");
    else if (!stages || !flags || !(st.procs = calloc(n, sizeof *st.procs)) ||
             (n > 1 && !(pipes = malloc((n - 1) * sizeof *pipes))))
        rc = pk__fail(PK_ERR_NOMEM, "pk_pipeline_run: out of memory");
    else if (cfg.cancel && pk__cancel_is_triggered(cfg.cancel))
        rc = pk__fail(PK_ERR_CANCELLED, "pk_pipeline_run: cancelled before it started");
    for (size_t i = 0; pipes && i + 1 < n; i++)
        pipes[i][0] = pipes[i][1] = -1; /* closed below only if opened */
    if (rc == PK_OK) {
        pthread_mutex_lock(&stages[0]->lock);
        pk_group_options opts = stages[0]->group_opts;
        pthread_mutex_unlock(&stages[0]->lock);
        rc = pk__group_new(&opts, &st.group);
    }
    if (rc == PK_OK)
        rc = pk__loop_create(&st.loop);
    for (size_t i = 0; rc == PK_OK && i + 1 < n; i++) {
        int err = pk__os_pipe(pipes[i]);
        if (err != 0) {
            rc = pk__fail_errno(PK_ERR_OS, -err, "pk_pipeline_run: pipe");
            pipes[i][0] = pipes[i][1] = -1;
        }
    }
    uint64_t start = pk__now_ns();
    for (size_t i = 0; rc == PK_OK && i < n; i++) {
        pk_start_overrides ov = {i > 0 ? pipes[i - 1][0] : -1, i + 1 < n ? pipes[i][1] : -1};
        rc = pk__loop_start(st.loop, stages[i], st.group, &ov, &st.procs[i]);
        if (rc == PK_OK)
            st.started++;
    }
    for (size_t i = 0; pipes && i + 1 < n; i++) {
        /* Only the stages hold the pipes now: EOF flows when a writer ends. */
        if (pipes[i][0] >= 0)
            pk__os_close(pipes[i][0]);
        if (pipes[i][1] >= 0)
            pk__os_close(pipes[i][1]);
    }
    free(pipes);

    int timed_out = 0, cancelled = 0;
    if (rc != PK_OK && st.group) {
        /* A stage failed to start: stop the ones that did. */
        char saved[512];
        pk__format(saved, sizeof saved, "%s", pk_last_error());
        (void)pk__group_signal_obj(st.group, SIGKILL);
        for (size_t i = 0; i < st.started; i++)
            pk__process_cancel(st.procs[i]);
        while (st.loop && !all_done(&st) && pk__loop_run_once(st.loop, 1000) == PK_OK) {
        }
        pk__fail(rc, "%s", saved);
    } else if (rc == PK_OK) {
        drive(&st, &cfg, &timed_out, &cancelled);
    }
    if (st.group)
        (void)pk__group_teardown(st.group);
    if (rc == PK_OK) {
        pk_result_obj *r = combine(&st, &cfg, timed_out, cancelled, (pk__now_ns() - start) / 1000u);
        void *h = NULL;
        if (!r)
            rc = pk__fail(PK_ERR_NOMEM, "pk_pipeline_run: out of memory building the result");
        else if ((rc = pk__handle_new(&r->obj, &h)) != PK_OK)
            pk__object_unref(&r->obj);
        else
            *out = h;
    }
    for (size_t i = 0; i < st.started; i++)
        pk__object_unref(&st.procs[i]->obj);
    free(st.procs);
    if (st.loop) {
        pk__loop_close(st.loop);
        pk__object_unref(&st.loop->obj);
    }
    if (st.group)
        pk__object_unref(&st.group->obj);
    for (size_t i = 0; stages && i < n; i++)
        pk__object_unref(&stages[i]->obj);
    free(stages);
    free(flags);
    if (cfg.cancel)
        pk__object_unref(&cfg.cancel->obj);
    return rc;
}
