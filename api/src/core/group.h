/* The group core: one backend instance plus the direct children it spawned,
 * the kill-on-free latch and the graceful-shutdown driver. */
#ifndef PK_GROUP_H
#define PK_GROUP_H

#include <pthread.h>
#include <stdint.h>

#include "backend.h"
#include "child.h"
#include "handle.h"

typedef struct pk_group_obj {
    pk_object obj;
    pthread_mutex_t lock;
    const pk_backend_ops *ops;
    void *state;
    int mechanism;
    uint32_t features; /* pk_feature bits the backend offers on this host */
    char reason[256];
    int parent_death_signal;
    int suspended;
    int spare_survivors; /* set by a non-escalating shutdown, cleared by spawn/adopt */
    int closed;          /* torn down: only the handle's last users remain */
    pk_child_obj **children;
    size_t child_count, child_cap;
} pk_group_obj;

/* Creates a group on an explicit backend table (the fake one in unit
 * tests). The table's version is checked first. */
int pk__group_create_with_ops(const pk_backend_ops *ops, const pk_group_options *opts, pk_group **out);

/* Creates a group object (backend selection included) without a handle. */
int pk__group_new(const pk_group_options *opts, pk_group_obj **out);

/* Signals the tree (SIGKILL takes the kill path). */
int pk__group_signal_obj(pk_group_obj *group, int sig);

/* Kills the tree unless the backend already reports it empty. */
int pk__group_kill_if_populated(pk_group_obj *group);

/* Lookup with a reference, for other core modules (run-and-capture). */
int pk__group_get(pk_group *handle, const char *fn, pk_group_obj **out);

/* Spawns into a group object already looked up; *child gets a new reference
 * owned by the caller. */
struct pk_spawn_extra;
int pk__group_spawn_obj(pk_group_obj *group, const pk_spawn_options *opts, const struct pk_spawn_extra *extra,
                        pk_child_obj **child);

/* Kills, drains and tears down a group object (the body of pk_group_free). */
int pk__group_teardown(pk_group_obj *group);

/* Strength used by min_mechanism: cgroup-v2 and job-object are equals. */
int pk__mechanism_strength(int mechanism);

#endif
