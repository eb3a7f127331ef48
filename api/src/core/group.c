/* Public group API: argument checks, backend selection and the parts of the
 * lifecycle every backend shares (reaping direct children, the graceful
 * shutdown driver, the kill-on-free latch). */
#include "group.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "abi_struct.h"
#include "error.h"
#include "platform.h"
#include "process_spawn.h"
#include "sys.h"

/* How long teardown waits for a killed tree to drain before giving up on
 * removing what the backend made. SIGKILL cannot be refused, so only a
 * process stuck in the kernel (D state) can take this long. */
#define TEARDOWN_DRAIN_MS 10000
/* Re-check interval for backends with no drain event (process group). */
#define DRAIN_RECHECK_MS 10

int pk__mechanism_strength(int mechanism)
{
    switch (mechanism) {
    case PK_MECHANISM_PROCESS_GROUP: return 1;
    case PK_MECHANISM_CGROUP_V2:
    case PK_MECHANISM_JOB_OBJECT: return 2;
    default: return 0;
    }
}

const char *pk_mechanism_name(int mechanism)
{
    switch (mechanism) {
    case PK_MECHANISM_NONE: return "none";
    case PK_MECHANISM_PROCESS_GROUP: return "process-group";
    case PK_MECHANISM_CGROUP_V2: return "cgroup-v2";
    case PK_MECHANISM_JOB_OBJECT: return "job-object";
    default: return NULL;
    }
}

static void group_destroy(pk_object *obj)
{
    pk_group_obj *group = (pk_group_obj *)obj;
    for (size_t i = 0; i < group->child_count; i++)
        pk__object_unref(&group->children[i]->obj);
    free(group->children);
    pthread_mutex_destroy(&group->lock);
    free(group);
}

int pk__group_get(pk_group *handle, const char *fn, pk_group_obj **out)
{
    pk_object *obj;
    int rc = pk__handle_get(handle, PK_OBJ_GROUP, fn, &obj);
    if (rc != PK_OK)
        return rc;
    pk_group_obj *group = (pk_group_obj *)obj;
    pthread_mutex_lock(&group->lock);
    int closed = group->closed;
    pthread_mutex_unlock(&group->lock);
    if (closed) {
        pk__object_unref(obj);
        return pk__fail(PK_ERR_HANDLE, "%s: this pk_group was already freed", fn);
    }
    *out = group;
    return PK_OK;
}

/* Takes the lock unless the group was torn down meanwhile (by a free on
 * another thread): backend calls are only made on a live state. */
static int lock_open(pk_group_obj *group, const char *fn)
{
    pthread_mutex_lock(&group->lock);
    if (group->closed) {
        pthread_mutex_unlock(&group->lock);
        return pk__fail(PK_ERR_HANDLE, "%s: the pk_group was freed meanwhile", fn);
    }
    return PK_OK;
}

static int check_signal(const char *fn, int sig)
{
    if (sig <= 0 || sig >= PK_NSIG)
        return pk__fail(PK_ERR_INVALID, "%s: %d is not a signal number", fn, sig);
    return PK_OK;
}

static int validate_options(const pk_group_options *o)
{
    if (o->backend != PK_BACKEND_AUTO && !pk__backend_row(o->backend))
        return pk__fail(PK_ERR_INVALID, "pk_group_create: backend %d is not a pk_backend", (int)o->backend);
    if (!pk_mechanism_name(o->min_mechanism))
        return pk__fail(PK_ERR_INVALID, "pk_group_create: min_mechanism %d is not a pk_mechanism",
                        (int)o->min_mechanism);
    if (o->parent_death_signal < 0 || o->parent_death_signal >= PK_NSIG)
        return pk__fail(PK_ERR_INVALID, "pk_group_create: parent_death_signal %d is not a signal number",
                        (int)o->parent_death_signal);
    if (o->flags & ~(uint32_t)PK_GROUP_NO_OWNER_DEATH_KILL)
        return pk__fail(PK_ERR_INVALID, "pk_group_create: unknown flags 0x%x", (unsigned)o->flags);
    if (!isfinite(o->cpu_max) || o->cpu_max < 0)
        return pk__fail(PK_ERR_INVALID, "pk_group_create: cpu_max must be a finite number of cores > 0 (0 = none)");
    return PK_OK;
}

static int limits_requested(const pk_limits *l)
{
    return l->memory_max || l->pids_max || l->cpu_max > 0;
}

/* Starts a group on one table, without any fallback. */
static int create_on(const pk_backend_ops *ops, const pk_group_options *o, const pk_limits *limits,
                     const char *reason, pk_group_obj **out)
{
    if (ops->version < 1 || ops->version > PK_BACKEND_OPS_VERSION)
        return pk__fail(PK_ERR_UNSUPPORTED, "backend %s has ops version %d; this library knows 1..%d",
                        ops->name ? ops->name : "?", ops->version, PK_BACKEND_OPS_VERSION);
    pk_group_obj *group = calloc(1, sizeof *group);
    if (!group)
        return pk__fail(PK_ERR_NOMEM, "pk_group_create: out of memory");
    int rc = ops->create(limits, &group->state);
    if (rc != PK_OK) {
        free(group);
        return rc;
    }
    pk_backend_probe probe;
    ops->probe(&probe);
    pk__object_init(&group->obj, PK_OBJ_GROUP, group_destroy);
    pthread_mutex_init(&group->lock, NULL);
    group->ops = ops;
    group->mechanism = ops->mechanism;
    group->features = probe.features;
    group->parent_death_signal = o->parent_death_signal;
    pk__format(group->reason, sizeof group->reason, "%s", reason ? reason : "");
    *out = group;
    return PK_OK;
}

static int check_minimum(const pk_group_options *o, int mechanism, const char *reason)
{
    if (pk__mechanism_strength(mechanism) >= pk__mechanism_strength(o->min_mechanism))
        return PK_OK;
    return pk__fail(PK_ERR_UNAVAILABLE, "pk_group_create: at least %s was required, but this host offers %s%s%s",
                    pk_mechanism_name(o->min_mechanism), pk_mechanism_name(mechanism), reason[0] ? ": " : "",
                    reason);
}

static int publish(pk_group_obj *group, pk_group **out)
{
    void *handle;
    int rc = pk__handle_new(&group->obj, &handle);
    if (rc != PK_OK) {
        group->ops->destroy(group->state, 0);
        pk__object_unref(&group->obj);
        return rc;
    }
    *out = handle;
    return PK_OK;
}

/* Reads a caller's options (NULL = defaults), checks them, and derives what
 * the backend is asked for. */
static int read_options(const pk_group_options *opts, pk_group_options *o, pk_limits *limits)
{
    const pk_group_options defaults = PK_GROUP_OPTIONS_INIT;
    *o = defaults;
    if (opts) {
        int rc = pk__struct_in(&pk__layout_group_options, o, opts, "pk_group_create: opts");
        if (rc != PK_OK)
            return rc;
    }
    int rc = validate_options(o);
    if (rc != PK_OK)
        return rc;
    *limits = (pk_limits){o->memory_max, o->pids_max, o->cpu_max, !(o->flags & PK_GROUP_NO_OWNER_DEATH_KILL)};
    return PK_OK;
}

int pk__group_create_with_ops(const pk_backend_ops *ops, const pk_group_options *opts, pk_group **out)
{
    pk__clear_error();
    if (!ops || !out)
        return pk__fail(PK_ERR_INVALID, "pk__group_create_with_ops: NULL argument");
    pk_group_options o;
    pk_limits limits;
    int rc = read_options(opts, &o, &limits);
    if (rc != PK_OK)
        return rc;
    pk_group_obj *group;
    rc = create_on(ops, &o, &limits, "", &group);
    if (rc != PK_OK)
        return rc;
    return publish(group, out);
}

/* Appends "name unavailable: why" to a fallback reason. */
static void add_reason(char *reason, size_t len, const char *name, const char *why)
{
    size_t used = strlen(reason);
    if (used + 1 < len)
        pk__format(reason + used, len - used, "%s%s unavailable: %s", used ? "; " : "", name, why);
}

int pk__group_new(const pk_group_options *opts, pk_group_obj **out)
{
    pk_group_options o;
    pk_limits limits;
    int rc = read_options(opts, &o, &limits);
    if (rc != PK_OK)
        return rc;
    const int want_limits = limits_requested(&limits);

    /* A named backend is tried alone; auto walks the registry, strongest
     * first, and records why each stronger one was passed over. */
    size_t count = 1;
    const pk_backend_row *rows = o.backend == PK_BACKEND_AUTO ? pk__backend_rows(&count) : pk__backend_row(o.backend);
    const int only = o.backend != PK_BACKEND_AUTO;
    if (only && !rows->ops)
        return pk__fail(PK_ERR_UNAVAILABLE, "pk_group_create: %s", rows->absent);
    char reason[256] = "";
    int refused_limits = 0;
    for (size_t i = 0; i < count; i++) {
        const pk_backend_ops *ops = rows[i].ops;
        if (!ops)
            continue;
        rc = check_minimum(&o, ops->mechanism, reason);
        if (rc != PK_OK)
            return rc; /* the rest are weaker still */
        pk_backend_probe probe;
        ops->probe(&probe);
        if (!probe.available) {
            if (only)
                return pk__fail(PK_ERR_UNAVAILABLE, "pk_group_create: %s unavailable: %s", ops->name, probe.reason);
            add_reason(reason, sizeof reason, ops->name, probe.reason);
            continue;
        }
        rc = create_on(ops, &o, &limits, reason, out);
        if (rc == PK_OK) {
            pk__clear_error();
            return PK_OK;
        }
        if (only || rc == PK_ERR_NOMEM)
            return rc;
        /* The probe said yes but creating failed (a race with the host, a
         * full hierarchy, limits it cannot enforce): go on, and say why. */
        refused_limits |= rc == PK_ERR_LIMIT;
        add_reason(reason, sizeof reason, ops->name, pk_last_error());
    }
    if (want_limits || refused_limits)
        return pk__fail(PK_ERR_LIMIT, "pk_group_create: no mechanism here can enforce the limits asked for: %s", reason);
    return pk__fail(PK_ERR_UNAVAILABLE, "pk_group_create: no containment mechanism is available: %s", reason);
}

int pk_group_create(const pk_group_options *opts, pk_group **out)
{
    pk__clear_error();
    if (!out)
        return pk__fail(PK_ERR_INVALID, "pk_group_create: out is NULL");
    pk_group_obj *group;
    int rc = pk__group_new(opts, &group);
    if (rc != PK_OK)
        return rc;
    return publish(group, out);
}

/* With the lock held: reap every direct child that has exited. */
static void reap_exited(pk_group_obj *group)
{
    for (size_t i = 0; i < group->child_count; i++)
        (void)pk__child_reap(group->children[i], 0);
}

/* With the lock held: forget children nobody can ask about any more. */
static void prune_children(pk_group_obj *group)
{
    size_t kept = 0;
    for (size_t i = 0; i < group->child_count; i++) {
        pk_child_obj *child = group->children[i];
        if (atomic_load(&child->handle_released) && pk__child_reap(child, 0) == 1)
            pk__object_unref(&child->obj);
        else
            group->children[kept++] = child;
    }
    group->child_count = kept;
}

/* Waits until the backend reports the tree drained or the deadline passes,
 * reaping direct children as they exit (a zombie would otherwise keep a
 * process group alive). Called without the lock. Returns 1 if drained. */
/* With the lock held: whether the tree is surely empty, so the kill can be
 * skipped (an empty cgroup stays reusable). A backend that cannot see every
 * member (a process group, whose drain check is a /proc scan a fork-and-exit
 * chain slips past) is always sent the kill, which a fork cannot escape. */
static int drained_for_kill(pk_group_obj *group)
{
    return (group->features & PK_FEATURE_ALL_MEMBERS) && group->ops->drained(group->state);
}

static int wait_drained(pk_group_obj *group, uint64_t deadline_ns)
{
    for (;;) {
        pthread_mutex_lock(&group->lock);
        if (!group->state) {
            pthread_mutex_unlock(&group->lock);
            return 1;
        }
        reap_exited(group);
        int drained = group->ops->drained(group->state);
        int drain_fd = group->ops->drain_fd ? group->ops->drain_fd(group->state) : -1;
        pk_child_obj *live[64];
        size_t n = 0;
        for (size_t i = 0; i < group->child_count && n < 64; i++)
            if (!pk__child_is_done(group->children[i])) {
                live[n] = group->children[i];
                pk__object_ref(&live[n++]->obj);
            }
        pthread_mutex_unlock(&group->lock);
        uint64_t now = pk__now_ns();
        if (drained || now >= deadline_ns) {
            for (size_t i = 0; i < n; i++)
                pk__object_unref(&live[i]->obj);
            return drained;
        }
        int left_ms = pk__ms_until(deadline_ns, now);
        int timeout = drain_fd >= 0 ? (left_ms > 1000 ? 1000 : left_ms)
                                    : (left_ms > DRAIN_RECHECK_MS ? DRAIN_RECHECK_MS : left_ms);
        pk__child_wait_any(live, n, drain_fd, timeout);
        for (size_t i = 0; i < n; i++)
            pk__object_unref(&live[i]->obj);
    }
}

static uint32_t live_count(pk_group_obj *group)
{
    pk_group_stats st = PK_GROUP_STATS_INIT;
    if (group->ops->stats(group->state, &st) != PK_OK)
        return 0;
    return st.live_processes;
}

int pk__group_teardown(pk_group_obj *group)
{
    pthread_mutex_lock(&group->lock);
    if (group->closed) {
        pthread_mutex_unlock(&group->lock);
        return PK_OK;
    }
    group->closed = 1;
    int spare = group->spare_survivors;
    int rc = PK_OK;
    if (!spare) {
        if (group->suspended)
            (void)group->ops->resume(group->state);
        if (!drained_for_kill(group))
            rc = group->ops->kill(group->state);
    }
    pthread_mutex_unlock(&group->lock);

    int drained = spare ? 1 : wait_drained(group, pk__now_ns() + (uint64_t)TEARDOWN_DRAIN_MS * 1000000u);

    pthread_mutex_lock(&group->lock);
    if (!spare) {
        /* Every direct child is dead: reap them all so none lingers as a zombie. */
        for (size_t i = 0; i < group->child_count; i++)
            (void)pk__child_reap(group->children[i], drained ? 1000 : 0);
    }
    group->ops->destroy(group->state, spare);
    group->state = NULL;
    pthread_mutex_unlock(&group->lock);
    if (rc == PK_OK && !drained)
        rc = pk__fail(PK_ERR_OS, "pk_group_free: the tree did not drain within %d ms after SIGKILL",
                      TEARDOWN_DRAIN_MS);
    return rc;
}

int pk_group_free(pk_group *handle)
{
    pk__clear_error();
    pk_object *obj;
    int rc = pk__handle_retire(handle, PK_OBJ_GROUP, "pk_group_free", &obj);
    if (rc != PK_OK)
        return rc;
    rc = pk__group_teardown((pk_group_obj *)obj);
    pk__object_unref(obj);
    return rc;
}

int pk_group_containment(pk_group *handle, pk_containment *out)
{
    pk__clear_error();
    pk_group_obj *group;
    int rc = pk__group_get(handle, "pk_group_containment", &group);
    if (rc != PK_OK)
        return rc;
    if (!out) {
        rc = pk__fail(PK_ERR_INVALID, "pk_group_containment: out is NULL");
    } else {
        pk_containment c;
        memset(&c, 0, sizeof c);
        c.size = sizeof c;
        c.mechanism = group->mechanism;
        c.features = group->features;
        pk__format(c.reason, sizeof c.reason, "%s", group->reason);
        if (group->ops->version >= 2 && group->ops->describe_host)
            group->ops->describe_host(&c);
        rc = lock_open(group, "pk_group_containment");
        if (rc == PK_OK) {
            if (group->ops->describe)
                group->ops->describe(group->state, &c);
            pthread_mutex_unlock(&group->lock);
            rc = pk__struct_out(&pk__layout_containment, out, &c, "pk_group_containment: out");
        }
    }
    pk__object_unref(&group->obj);
    return rc;
}

static int validate_spawn(const pk_spawn_options *o)
{
    if (!o->argv || !o->argv[0])
        return pk__fail(PK_ERR_INVALID, "pk_group_spawn: argv must hold at least the program name");
    if (!(o->program ? o->program : o->argv[0])[0])
        return pk__fail(PK_ERR_INVALID, "pk_group_spawn: the program name is empty");
    if (o->flags & ~(uint32_t)(PK_SPAWN_NEW_SESSION | PK_SPAWN_NO_PATH_SEARCH | PK_SPAWN_NO_WINDOW))
        return pk__fail(PK_ERR_INVALID, "pk_group_spawn: unknown flags 0x%x", (unsigned)o->flags);
    const int32_t fds[3] = {o->stdin_fd, o->stdout_fd, o->stderr_fd};
    static const char *const names[3] = {"stdin_fd", "stdout_fd", "stderr_fd"};
    for (int i = 0; i < 3; i++) {
        if (fds[i] < PK_STDIO_NULL)
            return pk__fail(PK_ERR_INVALID, "pk_group_spawn: %s %d is neither an fd nor PK_STDIO_*", names[i],
                            (int)fds[i]);
        if (fds[i] >= 0 && !pk__fd_is_open(fds[i]))
            return pk__fail(PK_ERR_INVALID, "pk_group_spawn: %s %d is not an open fd", names[i], (int)fds[i]);
    }
    if (o->parent_death_signal < -1 || o->parent_death_signal >= PK_NSIG)
        return pk__fail(PK_ERR_INVALID, "pk_group_spawn: parent_death_signal %d is not a signal number",
                        (int)o->parent_death_signal);
    return PK_OK;
}

int pk__group_spawn_obj(pk_group_obj *group, const pk_spawn_options *opts, const pk_spawn_extra *extra,
                        pk_child_obj **out)
{
    int rc = validate_spawn(opts);
    if (rc != PK_OK)
        return rc;
    pk_spawn_request req = {
        .program = opts->program,
        .argv = opts->argv,
        .envp = opts->envp,
        .cwd = opts->cwd,
        .stdio = {opts->stdin_fd, opts->stdout_fd, opts->stderr_fd},
        .new_session = (opts->flags & PK_SPAWN_NEW_SESSION) != 0,
        .search_path = (opts->flags & PK_SPAWN_NO_PATH_SEARCH) == 0,
        .no_window = (opts->flags & PK_SPAWN_NO_WINDOW) != 0,
        .target = {.cgroup_fd = -1, .own_process_group = 0},
        .extra = extra,
    };

    rc = lock_open(group, "pk_group_spawn");
    if (rc != PK_OK)
        return rc;
    req.parent_death_signal = opts->parent_death_signal >= 0 ? opts->parent_death_signal : group->parent_death_signal;
    if (group->suspended) {
        pthread_mutex_unlock(&group->lock);
        return pk__fail(PK_ERR_STATE, "pk_group_spawn: the group is suspended; resume it first");
    }
    prune_children(group);
    if (group->child_count == group->child_cap) {
        size_t cap = group->child_cap ? group->child_cap * 2 : 8;
        pk_child_obj **grown = realloc(group->children, cap * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&group->lock);
            return pk__fail(PK_ERR_NOMEM, "pk_group_spawn: out of memory");
        }
        group->children = grown;
        group->child_cap = cap;
    }
    rc = group->ops->prepare_spawn(group->state, &req.target);
    pk_child_obj *child = NULL;
    if (rc == PK_OK)
        rc = pk__child_spawn(&req, &child);
    if (rc == PK_OK) {
        rc = group->ops->track(group->state, child->pid, child->proc, req.new_session);
        if (rc == PK_OK)
            rc = pk__child_start(child);
        if (rc != PK_OK) {
            /* Nothing may run outside the container. */
            pk__child_discard(child);
            child = NULL;
        }
    }
    if (rc == PK_OK) {
        group->children[group->child_count++] = child;
        pk__object_ref(&child->obj); /* one for the group, one for the caller */
        group->spare_survivors = 0;
        *out = child;
    }
    pthread_mutex_unlock(&group->lock);
    return rc;
}

int pk_group_spawn(pk_group *handle, const pk_spawn_options *opts, pk_child **out)
{
    pk__clear_error();
    pk_group_obj *group;
    int rc = pk__group_get(handle, "pk_group_spawn", &group);
    if (rc != PK_OK)
        return rc;
    pk_spawn_options o = PK_SPAWN_OPTIONS_INIT;
    if (!opts || !out)
        rc = pk__fail(PK_ERR_INVALID, "pk_group_spawn: %s is NULL", !opts ? "opts" : "out");
    else
        rc = pk__struct_in(&pk__layout_spawn_options, &o, opts, "pk_group_spawn: opts");
    pk_child_obj *child = NULL;
    if (rc == PK_OK)
        rc = pk__group_spawn_obj(group, &o, NULL, &child);
    if (rc == PK_OK) {
        void *h;
        rc = pk__handle_new(&child->obj, &h);
        if (rc == PK_OK)
            *out = h;
        else
            pk__object_unref(&child->obj); /* the group still holds and reaps it */
    }
    pk__object_unref(&group->obj);
    return rc;
}

int pk_group_adopt(pk_group *handle, int32_t pid)
{
    pk__clear_error();
    pk_group_obj *group;
    int rc = pk__group_get(handle, "pk_group_adopt", &group);
    if (rc != PK_OK)
        return rc;
    if (pid <= 0 || pid == pk__self_pid()) {
        rc = pk__fail(PK_ERR_INVALID, "pk_group_adopt: %d is not a child pid", (int)pid);
        goto out;
    }
    if (pk__is_own_helper(pid)) {
        rc = pk__fail(PK_ERR_PERMISSION,
                      "pk_group_adopt: %d is processkit's own keeper (it kills every group's tree if this "
                      "process dies), so no group may contain it",
                      (int)pid);
        goto out;
    }
    pk_proc_ref proc = PK_PROC_REF_NONE;
    rc = pk__proc_open_child(pid, &proc);
    if (rc <= 0)
        goto out; /* an error, or it already exited: nothing left to contain */
    rc = lock_open(group, "pk_group_adopt");
    if (rc == PK_OK) {
        rc = group->ops->adopt(group->state, pid, proc);
        if (rc == PK_OK)
            group->spare_survivors = 0;
        pthread_mutex_unlock(&group->lock);
    }
    pk__proc_close(proc);
out:
    pk__object_unref(&group->obj);
    return rc;
}

int pk_group_signal(pk_group *handle, int32_t sig)
{
    pk__clear_error();
    pk_group_obj *group;
    int rc = pk__group_get(handle, "pk_group_signal", &group);
    if (rc != PK_OK)
        return rc;
    rc = check_signal("pk_group_signal", sig);
    if (rc == PK_OK)
        rc = pk__group_signal_obj(group, sig);
    pk__object_unref(&group->obj);
    return rc;
}

int pk__group_signal_obj(pk_group_obj *group, int sig)
{
    int rc = lock_open(group, "signal");
    if (rc != PK_OK)
        return rc;
    rc = sig == SIGKILL ? group->ops->kill(group->state) : group->ops->signal(group->state, sig);
    pthread_mutex_unlock(&group->lock);
    return rc;
}

int pk__group_kill_if_populated(pk_group_obj *group)
{
    int rc = lock_open(group, "kill");
    if (rc != PK_OK)
        return rc;
    if (!drained_for_kill(group))
        rc = group->ops->kill(group->state);
    pthread_mutex_unlock(&group->lock);
    return rc;
}

int pk_group_kill(pk_group *handle)
{
    pk__clear_error();
    pk_group_obj *group;
    int rc = pk__group_get(handle, "pk_group_kill", &group);
    if (rc != PK_OK)
        return rc;
    rc = pk__group_signal_obj(group, SIGKILL);
    pk__object_unref(&group->obj);
    return rc;
}

static int suspend_or_resume(pk_group *handle, int suspend)
{
    pk__clear_error();
    pk_group_obj *group;
    int rc = pk__group_get(handle, suspend ? "pk_group_suspend" : "pk_group_resume", &group);
    if (rc != PK_OK)
        return rc;
    rc = lock_open(group, suspend ? "pk_group_suspend" : "pk_group_resume");
    if (rc == PK_OK) {
        rc = suspend ? group->ops->suspend(group->state) : group->ops->resume(group->state);
        if (rc == PK_OK)
            group->suspended = suspend;
        pthread_mutex_unlock(&group->lock);
    }
    pk__object_unref(&group->obj);
    return rc;
}

int pk_group_suspend(pk_group *handle)
{
    return suspend_or_resume(handle, 1);
}

int pk_group_resume(pk_group *handle)
{
    return suspend_or_resume(handle, 0);
}

int pk_group_members(pk_group *handle, int32_t *pids, size_t capacity, size_t *count)
{
    pk__clear_error();
    pk_group_obj *group;
    int rc = pk__group_get(handle, "pk_group_members", &group);
    if (rc != PK_OK)
        return rc;
    if (!count || (!pids && capacity > 0)) {
        rc = pk__fail(PK_ERR_INVALID, "pk_group_members: %s", !count ? "count is NULL" : "pids is NULL with capacity > 0");
    } else {
        pk_pid_list list = {0};
        rc = lock_open(group, "pk_group_members");
        if (rc == PK_OK) {
            reap_exited(group);
            rc = group->ops->members(group->state, &list);
            pthread_mutex_unlock(&group->lock);
        }
        if (rc == PK_OK) {
            for (size_t i = 0; i < list.len && i < capacity; i++)
                pids[i] = list.pids[i];
            *count = list.len;
        }
        pk__pid_list_free(&list);
    }
    pk__object_unref(&group->obj);
    return rc;
}

int pk_group_stats_get(pk_group *handle, pk_group_stats *out)
{
    pk__clear_error();
    pk_group_obj *group;
    int rc = pk__group_get(handle, "pk_group_stats_get", &group);
    if (rc != PK_OK)
        return rc;
    if (!out) {
        rc = pk__fail(PK_ERR_INVALID, "pk_group_stats_get: out is NULL");
    } else {
        pk_group_stats st = PK_GROUP_STATS_INIT;
        rc = lock_open(group, "pk_group_stats_get");
        if (rc == PK_OK) {
            reap_exited(group);
            rc = group->ops->stats(group->state, &st);
            pthread_mutex_unlock(&group->lock);
        }
        if (rc == PK_OK)
            rc = pk__struct_out(&pk__layout_group_stats, out, &st, "pk_group_stats_get: out");
    }
    pk__object_unref(&group->obj);
    return rc;
}

int pk_group_shutdown(pk_group *handle, const pk_shutdown_options *opts, pk_shutdown_report *report)
{
    pk__clear_error();
    pk_group_obj *group;
    int rc = pk__group_get(handle, "pk_group_shutdown", &group);
    if (rc != PK_OK)
        return rc;
    pk_shutdown_options o = PK_SHUTDOWN_OPTIONS_INIT;
    if (opts)
        rc = pk__struct_in(&pk__layout_shutdown_options, &o, opts, "pk_group_shutdown: opts");
    if (rc == PK_OK)
        rc = check_signal("pk_group_shutdown", o.signal);
    if (rc == PK_OK && report)
        rc = pk__struct_check(&pk__layout_shutdown_report, report, "pk_group_shutdown: report");
    if (rc != PK_OK) {
        pk__object_unref(&group->obj);
        return rc;
    }

    uint64_t start = pk__now_ns();
    pk_shutdown_report r = PK_SHUTDOWN_REPORT_INIT;
    rc = lock_open(group, "pk_group_shutdown");
    if (rc != PK_OK) {
        pk__object_unref(&group->obj);
        return rc;
    }
    reap_exited(group);
    r.members_before = live_count(group);
    /* A stopped tree cannot act on a polite signal. */
    if (group->suspended && group->ops->resume(group->state) == PK_OK)
        group->suspended = 0;
    /* A backend with no polite signal (a job object): its graceful path is the atomic kill. */
    const int kill_now = o.signal == SIGKILL || !(group->features & PK_FEATURE_SIGNALS);
    int sig_rc = kill_now ? group->ops->kill(group->state) : group->ops->signal(group->state, o.signal);
    pthread_mutex_unlock(&group->lock);
    (void)sig_rc; /* best effort: what matters is whether the tree drains */

    r.drained = wait_drained(group, start + (uint64_t)o.grace_ms * 1000000u);
    pthread_mutex_lock(&group->lock);
    if (!group->state) {
        /* Freed on another thread meanwhile: the free killed the tree. */
        r.drained = 1;
    } else if (!r.drained && o.escalate) {
        rc = group->ops->kill(group->state);
        r.escalated = 1;
    }
    if (!o.escalate)
        group->spare_survivors = 1;
    pthread_mutex_unlock(&group->lock);
    if (r.escalated)
        (void)wait_drained(group, pk__now_ns() + (uint64_t)TEARDOWN_DRAIN_MS * 1000000u);

    pthread_mutex_lock(&group->lock);
    if (group->state) {
        reap_exited(group);
        r.members_after = live_count(group);
    }
    pthread_mutex_unlock(&group->lock);
    r.elapsed_us = (pk__now_ns() - start) / 1000u;
    if (rc == PK_OK && report)
        rc = pk__struct_out(&pk__layout_shutdown_report, report, &r, "pk_group_shutdown: report");
    pk__object_unref(&group->obj);
    return rc;
}
