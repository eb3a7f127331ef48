/* The part of a run's life both loops share: the command's snapshot, the
 * group (a private one unless the caller gave one), where each stdio stream
 * comes from, the spawn, the stdin queue, room in the loop's list, the
 * program's exit, the result, and closing the loop. Pipes and what the loop waits on are
 * each OS's own (loop_linux.c, loop_windows.c). */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "loop.h"
#include "sys.h"

/* How long output pipes may stay open after the program exits, held by a
 * descendant the run cannot kill, before they are abandoned. */
#define DRAIN_AFTER_EXIT_MS 2000

static int run_prepare(pk_process_obj *p, pk_loop_obj *loop, pk_command_obj *cmd, pk_group_obj *group);

int pk__run_new(pk_loop_obj *loop, pk_command_obj *cmd, pk_group_obj *group, pk_process_obj **out)
{
    pk_process_obj *p = calloc(1, sizeof *p);
    *out = p;
    if (!p)
        return pk__fail(PK_ERR_NOMEM, "pk_loop_start: out of memory");
    pk__object_init(&p->obj, PK_OBJ_PROCESS, pk__process_os_destroy);
    pk__process_os_init(p);
    return run_prepare(p, loop, cmd, group);
}

static int run_prepare(pk_process_obj *p, pk_loop_obj *loop, pk_command_obj *cmd, pk_group_obj *group)
{
    atomic_init(&p->done, 0);
    atomic_init(&p->cancel_requested, 0);
    p->loop = loop;
    pk__object_ref(&loop->obj);

    pthread_mutex_lock(&cmd->lock);
    int rc = pk__command_plan(cmd, &p->plan);
    pthread_mutex_unlock(&cmd->lock);
    if (rc != PK_OK)
        return rc;
    if (p->plan.cancel && pk__cancel_is_triggered(p->plan.cancel))
        return pk__fail(PK_ERR_CANCELLED, "%s: cancelled before it started", p->plan.program);
    for (int s = 1; s <= 2; s++)
        pk__capture_init(&p->cap[s], p->plan.limit[s], p->plan.policy[s]);

    if (group) {
        p->group = group;
        pk__object_ref(&group->obj);
    } else {
        rc = pk__group_new(&p->plan.group_opts, &p->group);
        if (rc != PK_OK)
            return rc;
        p->private_group = 1;
    }
    p->mechanism = p->group->mechanism;
    return PK_OK;
}

int pk__run_spawn(pk_process_obj *p, const int32_t slot[3], const pk_spawn_extra *extra)
{
    pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
    so.program = p->plan.program;
    so.argv = (const char *const *)p->plan.argv;
    so.envp = (const char *const *)p->plan.envp;
    so.cwd = p->plan.cwd;
    so.flags = ((p->plan.flags & PK_COMMAND_NEW_SESSION) ? PK_SPAWN_NEW_SESSION : 0) |
               ((p->plan.flags & PK_COMMAND_NO_WINDOW) ? PK_SPAWN_NO_WINDOW : 0);
    so.stdin_fd = slot[0];
    so.stdout_fd = slot[1];
    so.stderr_fd = slot[2];
    so.parent_death_signal = p->plan.parent_death_signal;
    p->start_ns = pk__now_ns();
    int rc = pk__group_spawn_obj(p->group, &so, extra, &p->child);
    if (rc == PK_OK)
        p->pid = p->child->pid;
    return rc;
}

int pk__run_queue_stdin(pk_process_obj *p, const void *data, size_t len)
{
    if (len == 0)
        return PK_OK;
    /* A length that wraps the sum or the doubling would queue garbage (or
     * spin forever): refuse it before any arithmetic. */
    if (len > SIZE_MAX / 2 - p->in_len)
        return pk__fail(PK_ERR_INVALID, "stdin write of %zu bytes is larger than any buffer can be", len);
    if (p->in_len + len > p->in_alloc) {
        size_t alloc = p->in_alloc ? p->in_alloc : 4096;
        while (alloc < p->in_len + len)
            alloc *= 2;
        uint8_t *grown = realloc(p->in_buf, alloc);
        if (!grown)
            return pk__fail(PK_ERR_NOMEM, "out of memory queueing %zu stdin bytes", len);
        p->in_buf = grown;
        p->in_alloc = alloc;
    }
    memcpy(p->in_buf + p->in_len, data, len);
    p->in_len += len;
    return PK_OK;
}

int pk__loop_start(pk_loop_obj *loop, pk_command_obj *cmd, pk_group_obj *group, const pk_start_overrides *ov,
                   pk_process_obj **out)
{
    pk_process_obj *p;
    int rc = pk__run_new(loop, cmd, group, &p);
    if (!p)
        return rc;
    if (rc == PK_OK)
        rc = pk__run_os_spawn(p, ov);
    if (p->child) {
        /* Started: from here a failure kills what was started, and reaps it. */
        if (rc == PK_OK)
            rc = pk__run_os_watch(p);
        if (rc == PK_OK)
            rc = pk__loop_reserve(loop);
        if (rc != PK_OK) {
            pk__run_signal_tree(p, SIGKILL);
            (void)pk__child_reap(p->child, -1);
        }
    }
    if (rc != PK_OK) {
        pk__run_os_unwatch(p);
        if (p->private_group && p->group)
            (void)pk__group_teardown(p->group);
        pk__object_unref(&p->obj);
        return rc;
    }
    if (p->plan.timeout_ms)
        p->timeout_at = p->start_ns + (uint64_t)p->plan.timeout_ms * 1000000u;
    pthread_mutex_lock(&loop->lock);
    loop->procs[loop->count++] = p;
    pk__object_ref(&p->obj); /* the loop's reference, dropped when it finishes */
    pk__run_os_begin(p);
    pthread_mutex_unlock(&loop->lock);
    *out = p;
    return PK_OK;
}

int pk__run_spawned(pk_process_obj *p, const pk_start_overrides *ov, int rc, int *child_ends, int n)
{
    for (int i = 0; i < n; i++)
        if (child_ends[i] >= 0)
            pk__os_close(child_ends[i]);
    if (rc == PK_OK && p->plan.stdin_mode == PK_IN_BYTES && !(ov && ov->stdin_fd >= 0)) {
        p->in_close = 1;
        rc = pk__run_queue_stdin(p, p->plan.stdin_data, p->plan.stdin_len);
    }
    return rc;
}

int pk__loop_reserve(pk_loop_obj *loop)
{
    if (loop->count < loop->cap)
        return PK_OK;
    size_t cap = loop->cap ? loop->cap * 2 : 8;
    pk_process_obj **grown = realloc(loop->procs, cap * sizeof *grown);
    if (!grown)
        return pk__fail(PK_ERR_NOMEM, "pk_loop_start: out of memory");
    loop->procs = grown;
    loop->cap = cap;
    return PK_OK;
}

int pk__run_stdio(pk_process_obj *p, const pk_start_overrides *ov, int32_t slot[3], int child_ends[3],
                  const pk_stdio_ops *os)
{
    const pk_command_plan *plan = &p->plan;
    int rc;
    if (ov && ov->stdin_fd >= 0) {
        slot[0] = ov->stdin_fd;
    } else switch (plan->stdin_mode) {
    case PK_IN_NULL: slot[0] = PK_STDIO_NULL; break;
    case PK_IN_INHERIT: slot[0] = PK_STDIO_INHERIT; break;
    case PK_IN_FD: slot[0] = plan->stdin_fd; break;
    case PK_IN_FILE:
        if ((rc = os->open_file(plan->stdin_path, &child_ends[0])) != PK_OK)
            return rc;
        slot[0] = child_ends[0];
        break;
    default: /* bytes or an interactive pipe */
        if ((rc = os->make_pipe(p, 0, &child_ends[0])) != PK_OK)
            return rc;
        slot[0] = child_ends[0];
        break;
    }
    for (int s = 1; s <= 2; s++) {
        if (s == 1 && ov && ov->stdout_fd >= 0) {
            slot[1] = ov->stdout_fd;
            continue;
        }
        switch (plan->out_mode[s]) {
        case PK_OUTPUT_INHERIT: slot[s] = PK_STDIO_INHERIT; break;
        case PK_OUTPUT_NULL: slot[s] = PK_STDIO_NULL; break;
        case PK_OUTPUT_FD: slot[s] = plan->out_fd[s]; break;
        case PK_OUTPUT_MERGE:
            /* One pipe, one ordered stream: what stdout gets, stderr gets. */
            slot[s] = slot[1] == PK_STDIO_INHERIT ? 1 : slot[1];
            p->merged = 1;
            break;
        default:
            if ((rc = os->make_pipe(p, s, &child_ends[s])) != PK_OK)
                return rc;
            slot[s] = child_ends[s];
            break;
        }
    }
    return PK_OK;
}

void pk__run_release(pk_process_obj *p)
{
    for (int i = 0; i < 3; i++) {
        pk__capture_free(&p->cap[i]);
        pk__lines_free(&p->lines[i]);
    }
    free(p->in_buf);
    if (p->result)
        pk__object_unref(&p->result->obj);
    if (p->child)
        pk__object_unref(&p->child->obj);
    if (p->group)
        pk__object_unref(&p->group->obj);
    pk__command_plan_free(&p->plan);
    if (p->loop)
        pk__object_unref(&p->loop->obj);
    free(p);
}

void pk__run_emit_line(void *ctx, int stream, const char *line, size_t len)
{
    pk_process_obj *p = ctx;
    if (p->probe.active)
        pk__probe_line(p, stream, line, len);
    if (p->plan.line_fn[stream])
        p->plan.line_fn[stream](p->plan.line_user[stream], stream, line, len);
    if (p->plan.event_fn)
        p->plan.event_fn(p->plan.event_user, stream, line, len);
}

int pk__run_wants_lines(pk_process_obj *p, int stream)
{
    return p->plan.line_fn[stream] || p->plan.event_fn || p->probe.active;
}

int pk__run_exited(pk_process_obj *p)
{
    if (pk__child_reap(p->child, 0) != 1)
        return 0;
    p->exited = 1;
    p->status = p->child->status;
    p->grace_at = 0;
    /* The run owns its tree: what the program left behind dies with it, so
     * no descendant can hold the output pipes open. A descendant the kill
     * cannot reach (a setsid escaper of a process group, or anything in a
     * shared group) gets a bounded drain before its pipes are abandoned. */
    if (p->private_group)
        (void)pk__group_kill_if_populated(p->group);
    p->drain_at = pk__now_ns() + (uint64_t)DRAIN_AFTER_EXIT_MS * 1000000u;
    return 1;
}

void pk__run_complete(pk_process_obj *p)
{
    if (p->private_group)
        (void)pk__group_teardown(p->group);
    p->end_ns = pk__now_ns();
    p->result = pk__result_new(p);
    atomic_store(&p->done, 1);
}

static void loop_destroy(pk_object *obj)
{
    pk_loop_obj *loop = (pk_loop_obj *)obj;
    pk__loop_os_close(loop);
    free(loop->procs);
    pthread_mutex_destroy(&loop->lock);
    free(loop);
}

int pk__loop_create(pk_loop_obj **out)
{
    pk_loop_obj *loop = calloc(1, sizeof *loop);
    if (!loop)
        return pk__fail(PK_ERR_NOMEM, "pk_loop_new: out of memory");
    pk__object_init(&loop->obj, PK_OBJ_LOOP, loop_destroy);
    /* Recursive: callbacks may call back into the loop. */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&loop->lock, &attr);
    pthread_mutexattr_destroy(&attr);
#ifndef _WIN32
    loop->epfd = loop->wakefd = -1; /* before anything can fail: the destructor closes what is >= 0 */
#endif
    int rc = pk__loop_os_open(loop);
    if (rc != PK_OK) {
        pk__object_unref(&loop->obj);
        return rc;
    }
    *out = loop;
    return PK_OK;
}

void pk__process_cancel(pk_process_obj *proc)
{
    if (atomic_load(&proc->done) || atomic_exchange(&proc->cancel_requested, 1))
        return;
    /* Killing is safe from any thread; recording the outcome is the loop's. */
    pk__run_signal_tree(proc, SIGKILL);
    pk__loop_wake(proc->loop);
}

void pk__run_on_deadlines(pk_process_obj *p, uint64_t now)
{
    if (p->timeout_at && now >= p->timeout_at) {
        p->timeout_at = 0;
        if (!p->exited) {
            p->timed_out = 1;
            if (pk__run_polite_signal(p) && p->plan.grace_ms)
                p->grace_at = now + (uint64_t)p->plan.grace_ms * 1000000u;
            else
                pk__run_signal_tree(p, SIGKILL);
        } else {
            /* The program is gone but something holds its pipes: the
             * timeout also ends the wait for them. */
            pk__run_close_outputs(p);
        }
    }
    if (p->grace_at && now >= p->grace_at) {
        p->grace_at = 0;
        if (!p->exited)
            pk__run_signal_tree(p, SIGKILL);
    }
    if (p->drain_at && now >= p->drain_at) {
        p->drain_at = 0;
        pk__run_close_outputs(p);
    }
}

void pk__loop_drop_finished(pk_loop_obj *loop)
{
    size_t kept = 0;
    for (size_t i = 0; i < loop->count; i++) {
        pk_process_obj *p = loop->procs[i];
        if (atomic_load(&p->done))
            pk__object_unref(&p->obj);
        else
            loop->procs[kept++] = p;
    }
    loop->count = kept;
}

int pk__loop_enter(pk_loop_obj *loop, int *counted)
{
    int rc = PK_OK;
    *counted = 0;
    pthread_mutex_lock(&loop->lock);
    int closer = loop->closing && pthread_equal(loop->closer, pthread_self());
    if (loop->closing && !closer)
        rc = pk__fail(PK_ERR_HANDLE, "pk_loop_run_once: the loop was freed");
    else if (loop->closed)
        rc = pk__fail(PK_ERR_STATE, "pk_loop_run_once: the loop is closed");
    else if (!closer) {
        loop->waiters++;
        *counted = 1;
    }
    pthread_mutex_unlock(&loop->lock);
    return rc;
}

int pk__loop_leave(pk_loop_obj *loop, int counted, int rc)
{
    if (!counted)
        return rc;
    pthread_mutex_lock(&loop->lock);
    loop->waiters--;
    if (loop->closing)
        rc = pk__fail(PK_ERR_HANDLE, "pk_loop_run_once: the loop was freed while this call waited");
    pthread_mutex_unlock(&loop->lock);
    return rc;
}

int pk__loop_take_wakes(pk_loop_obj *loop)
{
    return atomic_exchange(&loop->wakes, 0u) != 0;
}

int pk__loop_turn(pk_loop_obj *loop, int timeout_ms, const char *fn)
{
    /* A wake that came before this turn is not lost: it ends the wait now. */
    int rc = pk__loop_take_wakes(loop) ? PK_ERR_CANCELLED : pk__loop_run_once(loop, timeout_ms);
    if (rc == PK_OK && pk__loop_take_wakes(loop))
        rc = PK_ERR_CANCELLED;
    return rc == PK_ERR_CANCELLED ? pk__fail(PK_ERR_CANCELLED, "%s: woken by pk_loop_wake", fn) : rc;
}

void pk__loop_begin_close(pk_loop_obj *loop)
{
    pthread_mutex_lock(&loop->lock);
    loop->closing = 1;
    loop->closer = pthread_self();
    /* Woken waiters dispatch what they saw, then leave; wake again until
     * all have (one wake may be consumed by one waiter). */
    while (loop->waiters > 0) {
        pk__loop_wake(loop);
        pthread_mutex_unlock(&loop->lock);
        pk__sleep_ms(1);
        pthread_mutex_lock(&loop->lock);
    }
    pthread_mutex_unlock(&loop->lock);
}

/* With the loop's lock held: cancels every run, drives the loop until they
 * are finished (finishing any a failed wait left), and marks it closed. */
static void wind_down(pk_loop_obj *loop)
{
    for (size_t i = 0; i < loop->count; i++)
        pk__process_cancel(loop->procs[i]);
    while (loop->count > 0 && pk__loop_run_once(loop, 1000) == PK_OK) {
    }
    /* A failed wait leaves runs behind: finish them here so none leaks. */
    for (size_t i = 0; i < loop->count; i++) {
        pk_process_obj *p = loop->procs[i];
        if (!atomic_load(&p->done))
            pk__run_finish(p);
        pk__object_unref(&p->obj);
    }
    loop->count = 0;
    loop->closed = 1;
}

void pk__loop_close(pk_loop_obj *loop)
{
    pthread_mutex_lock(&loop->lock);
    wind_down(loop);
    pk__loop_os_close(loop);
    pthread_mutex_unlock(&loop->lock);
}
