/* The POSIX process-group backend: each spawned child leads its own process
 * group, and killpg reaches it and everything it forks. Its weakness, a
 * descendant that calls setsid() or setpgid() leaving the group, is reported
 * through the mechanism (no PK_FEATURE_CONTAINS_SETSID), never hidden.
 *
 * Entries hold a pidfd of the leader (or adopted pid), so a solo pid is
 * signalled through the pidfd and can never be a recycled one. A group id
 * stays safe while any member lives, since Linux does not reuse a pid that
 * is still a process group's id; the remaining hazard, a group that empties
 * and whose id is reused as a new group leader between our probe and our
 * signal, is the same sub-microsecond window every killpg user accepts. */
#include "process_group.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "sys.h"

typedef struct entry {
    pid_t id;
    int pidfd;      /* a dup owned by the entry */
    int group;      /* probe and signal -id (the process group) */
    int group_seen; /* the group probe has succeeded once */
} entry;

typedef struct pgroup_state {
    pthread_mutex_t lock; /* drained() runs concurrently with the other ops */
    entry *entries;
    size_t len, cap;
} pgroup_state;

static void pg_probe(pk_backend_probe *out)
{
    memset(out, 0, sizeof *out);
    out->available = 1;
    out->features = PK_FEATURE_SIGNALS;
}

static int pg_create(const pk_limits *limits, void **state)
{
    if (limits->memory_max || limits->pids_max || limits->cpu_max > 0)
        return pk__fail(PK_ERR_LIMIT, "the process-group backend cannot enforce limits");
    pgroup_state *s = calloc(1, sizeof *s);
    if (!s)
        return pk__fail(PK_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&s->lock, NULL);
    *state = s;
    return PK_OK;
}

static void pg_destroy(void *state, int spare)
{
    pgroup_state *s = state;
    (void)spare; /* the core already killed the tree unless sparing it */
    for (size_t i = 0; i < s->len; i++)
        close(s->entries[i].pidfd);
    free(s->entries);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Whether the process behind a pidfd has exited (zombie or reaped). */
static int has_exited(int pidfd)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

/* Whether any process of group pgid is running (not a zombie), by a scan
 * of /proc. A scan can miss a process born and gone between two reads (a
 * fork-and-exit chain), so this only ever decides drain, never whether the
 * group is forgotten. With @found, every running member's pid is added to
 * it, and a failure to add one is left in *push_rc. */
static int scan_for_running_member(pid_t pgid, pk_pid_list *found, int *push_rc)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 1; /* cannot tell: assume alive */
    int running = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL && (found || !running)) {
        if (ent->d_name[0] < '1' || ent->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", ent->d_name);
        if (pk__read_file(path, buf, sizeof buf) <= 0)
            continue;
        const char *p = strrchr(buf, ')');
        char state;
        int ppid, pgrp;
        if (!p || sscanf(p + 1, " %c %d %d", &state, &ppid, &pgrp) != 3 || pgrp != pgid || state == 'Z' ||
            state == 'X')
            continue;
        running = 1;
        if (found && (*push_rc = pk__pid_list_push(found, (int32_t)atoi(ent->d_name))) != PK_OK)
            break;
    }
    closedir(d);
    return running;
}

/* How many scans must agree that only zombies remain before a group whose
 * leader is gone counts as drained: each scan a chain slips past is an
 * independent race, and the kill that follows a wrong answer is harmless. */
#define DRAIN_SCANS 3

/* Whether the exited leader behind pidfd has been reaped (its number freed). */
static int leader_reaped(int pidfd)
{
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED | WNOHANG | WNOWAIT | __WALL) != 0)
        return errno == ECHILD; /* not our child any more: reaped */
    return info.si_pid == 0;   /* no zombie to report: gone */
}

/* Whether the entry's processes still exist (zombies included), which is
 * what decides if it must still be signalled. EPERM counts as existing: the
 * process is there but may not be signalled by us, and forgetting it would
 * orphan its tree.
 *
 * For a group this rests on one kernel guarantee: a pid number is not handed
 * out again while any process still has it as its process group id. So while
 * kill(-pgid, 0) succeeds, the group is still ours, however fast its members
 * come and go. The one exception proves the group emptied in between: our
 * leader is reaped and its number now names a process, which could only be
 * allocated once nothing held the old group. */
static int entry_exists(entry *e)
{
    if (!e->group)
        return !has_exited(e->pidfd) && (pk__pidfd_send_signal(e->pidfd, 0) == 0 || errno == EPERM);
    if (kill(-e->id, 0) == 0 || errno == EPERM) {
        e->group_seen = 1;
        if (!has_exited(e->pidfd))
            return 1;
        return !(leader_reaped(e->pidfd) && (kill(e->id, 0) == 0 || errno == EPERM));
    }
    /* ESRCH on the group before it was ever seen: the child may not have
     * made itself a group leader yet, so ask about the process itself. Once
     * the group has been seen, ESRCH means it is gone for good. */
    if (errno != ESRCH || e->group_seen)
        return 0;
    return !has_exited(e->pidfd) && (pk__pidfd_send_signal(e->pidfd, 0) == 0 || errno == EPERM);
}

/* Whether the entry still has a running process: it exists, and either its
 * leader runs or a scan finds a running member. A group of zombies waiting
 * for their reaper has drained. */
static int entry_running(entry *e)
{
    if (!entry_exists(e))
        return 0;
    if (!e->group || !has_exited(e->pidfd))
        return 1;
    for (int i = 0; i < DRAIN_SCANS; i++)
        if (scan_for_running_member(e->id, NULL, NULL))
            return 1;
    return 0;
}

/* With the lock held: drop entries whose processes are all gone. */
static void prune(pgroup_state *s)
{
    size_t kept = 0;
    for (size_t i = 0; i < s->len; i++) {
        if (entry_exists(&s->entries[i]))
            s->entries[kept++] = s->entries[i];
        else
            close(s->entries[i].pidfd);
    }
    s->len = kept;
}

static entry *find(pgroup_state *s, pid_t id)
{
    for (size_t i = 0; i < s->len; i++)
        if (s->entries[i].id == id)
            return &s->entries[i];
    return NULL;
}

static int add(pgroup_state *s, pid_t id, int pidfd, int group, int group_seen)
{
    prune(s);
    entry *e = find(s, id);
    if (e) {
        /* Re-adopting what is already tracked: a group entry covers a solo. */
        if (group && !e->group) {
            e->group = 1;
            e->group_seen = group_seen;
        }
        return PK_OK;
    }
    if (s->len == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        entry *grown = realloc(s->entries, cap * sizeof *grown);
        if (!grown)
            return pk__fail(PK_ERR_NOMEM, "out of memory");
        s->entries = grown;
        s->cap = cap;
    }
    int fd = fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return pk__fail_errno(PK_ERR_OS, errno, "dup of a pidfd");
    s->entries[s->len++] = (entry){.id = id, .pidfd = fd, .group = group, .group_seen = group_seen};
    return PK_OK;
}

int pk__pgroup_track_entry(void *state, pid_t id, int pidfd, int group, int group_seen)
{
    pgroup_state *s = state;
    pthread_mutex_lock(&s->lock);
    int rc = add(s, id, pidfd, group, group_seen);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int pk__pgroup_entry_alive(void *state, pid_t id)
{
    pgroup_state *s = state;
    pthread_mutex_lock(&s->lock);
    entry *e = find(s, id);
    int alive = e && entry_exists(e);
    pthread_mutex_unlock(&s->lock);
    return alive;
}

static int pg_prepare_spawn(void *state, pk_spawn_target *target)
{
    (void)state;
    target->own_process_group = 1;
    return PK_OK;
}

static int pg_track(void *state, pid_t pid, int pidfd, int new_session)
{
    (void)new_session; /* setsid also makes the child its group's leader */
    /* The spawn is vfork-style: the child ran setpgid/setsid before the
     * caller resumed, but the latch is still earned by a first probe. */
    return pk__pgroup_track_entry(state, pid, pidfd, 1, 0);
}

static int pg_adopt(void *state, pid_t pid, int pidfd)
{
    pgroup_state *s = state;
    pthread_mutex_lock(&s->lock);
    int rc;
    if (setpgid(pid, 0) == 0) {
        /* It now leads a group of its own; its future forks follow it. */
        rc = add(s, pid, pidfd, 1, 1);
    } else if (errno == ESRCH) {
        rc = PK_OK; /* it already exited: nothing to contain */
    } else if (errno == EACCES || errno == EPERM) {
        /* It has exec'd (or leads a session), so it cannot be moved: track
         * the process alone. Its later forks are not contained. */
        rc = add(s, pid, pidfd, 0, 0);
    } else {
        rc = pk__fail_errno(PK_ERR_OS, errno, "setpgid(%d, 0)", (int)pid);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Sends sig to every live entry; returns the last EPERM as an error. */
static int broadcast(pgroup_state *s, int sig)
{
    int rc = PK_OK;
    pthread_mutex_lock(&s->lock);
    prune(s);
    for (int pass = 0; pass < 2; pass++) {
        /* Groups first, then solos, as a tree is reached from its leader. */
        for (size_t i = 0; i < s->len; i++) {
            entry *e = &s->entries[i];
            if (e->group != (pass == 0))
                continue;
            int r;
            if (e->group) {
                r = killpg(e->id, sig);
                if (r < 0 && errno == ESRCH && !e->group_seen)
                    r = pk__pidfd_send_signal(e->pidfd, sig);
            } else {
                r = pk__pidfd_send_signal(e->pidfd, sig);
            }
            if (r < 0 && errno == EPERM)
                rc = pk__fail_errno(PK_ERR_PERMISSION, EPERM, "signal %d to %s %d", sig,
                                    e->group ? "process group" : "pid", (int)e->id);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int pg_signal_all(void *state, int sig)
{
    return broadcast(state, sig);
}

static int pg_kill_all(void *state)
{
    return broadcast(state, SIGKILL);
}

static int pg_suspend(void *state)
{
    return broadcast(state, SIGSTOP);
}

static int pg_resume(void *state)
{
    return broadcast(state, SIGCONT);
}

/* Leaders that run, and for a group whose leader is gone, the running
 * members a scan finds (a pid that is not a leader is never signalled alone,
 * so naming it is only a report). */
static int pg_members(void *state, pk_pid_list *out)
{
    pgroup_state *s = state;
    int rc = PK_OK;
    pthread_mutex_lock(&s->lock);
    prune(s);
    for (size_t i = 0; i < s->len && rc == PK_OK; i++) {
        entry *e = &s->entries[i];
        if (!has_exited(e->pidfd))
            rc = pk__pid_list_push(out, e->id);
        else if (e->group)
            (void)scan_for_running_member(e->id, out, &rc);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int pg_stats(void *state, pk_group_stats *out)
{
    pgroup_state *s = state;
    pthread_mutex_lock(&s->lock);
    uint32_t live = 0;
    for (size_t i = 0; i < s->len; i++)
        live += (uint32_t)entry_running(&s->entries[i]);
    pthread_mutex_unlock(&s->lock);
    out->live_processes = live;
    out->cpu_time_us = -1;
    out->peak_memory_bytes = -1;
    return PK_OK;
}

static int pg_drained(void *state)
{
    pgroup_state *s = state;
    pthread_mutex_lock(&s->lock);
    prune(s);
    int empty = 1;
    for (size_t i = 0; i < s->len && empty; i++)
        empty = !entry_running(&s->entries[i]);
    pthread_mutex_unlock(&s->lock);
    return empty;
}

const pk_backend_ops pk__backend_process_group = {
    .version = 1,
    .name = "process-group",
    .backend_id = PK_BACKEND_PROCESS_GROUP,
    .mechanism = PK_MECHANISM_PROCESS_GROUP,
    .probe = pg_probe,
    .create = pg_create,
    .destroy = pg_destroy,
    .prepare_spawn = pg_prepare_spawn,
    .track = pg_track,
    .adopt = pg_adopt,
    .signal = pg_signal_all,
    .kill = pg_kill_all,
    .suspend = pg_suspend,
    .resume = pg_resume,
    .members = pg_members,
    .stats = pg_stats,
    .drained = pg_drained,
    /* no drain_fd: no kernel event says a process group emptied */
};
