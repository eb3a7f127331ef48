/* The internal backend interface: one versioned ops table per containment
 * mechanism, in the manner of sqlite3_vfs, and the registry of the tables
 * built into this library. Fields are only ever appended; a backend states
 * the version it was written against and the core checks it before calling
 * any entry newer than version 1. Entries marked optional may be NULL: the
 * backend does not offer that.
 *
 * Threading: the core serialises calls on one group, except drained() and
 * drain_fd(), which may run concurrently with anything else. */
#ifndef PK_BACKEND_H
#define PK_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "platform.h"
#include "processkit.h"

#define PK_BACKEND_OPS_VERSION 2

/* Where a new child goes. The core fills the defaults (-1 / 0) and the
 * backend's prepare_spawn fills what it needs. */
typedef struct pk_spawn_target {
    int cgroup_fd;         /* >= 0: clone3(CLONE_INTO_CGROUP) into this directory fd */
    int own_process_group; /* non-zero: the child calls setpgid(0, 0) unless it starts a new session */
} pk_spawn_target;

/* What a backend can offer on this host, found without side effects. */
typedef struct pk_backend_probe {
    int available;
    uint32_t features;      /* pk_feature bits */
    char reason[256];       /* why not available ("" when it is) */
} pk_backend_probe;

/* What a backend is asked to set up besides the container itself. */
typedef struct pk_limits {
    uint64_t memory_max; /* bytes, 0 = none */
    uint64_t pids_max;   /* 0 = none */
    double cpu_max;      /* cores, 0 = none */
    int guard_owner_death; /* kill the tree if the owner process dies (keeper) */
} pk_limits;

/* A growable list of pids, owned by the caller. */
typedef struct pk_pid_list {
    int32_t *pids;
    size_t len, cap;
} pk_pid_list;

int pk__pid_list_push(pk_pid_list *list, int32_t pid);
void pk__pid_list_free(pk_pid_list *list);

typedef struct pk_backend_ops {
    int version;        /* PK_BACKEND_OPS_VERSION the backend was written against */
    const char *name;   /* for messages */
    int backend_id;     /* pk_backend */
    int mechanism;      /* pk_mechanism */

    void (*probe)(pk_backend_probe *out);
    /* Sets up an empty container. Fails with PK_ERR_LIMIT when limits are
     * asked for and cannot be enforced. */
    int (*create)(const pk_limits *limits, void **state);
    /* Removes what create made. The core has already killed and drained the
     * tree, unless spare is set: then survivors must be left running. */
    void (*destroy)(void *state, int spare);

    int (*prepare_spawn)(void *state, pk_spawn_target *target);
    /* A child was born into the container (its proc reference stays the
     * core's). On Windows the child is still suspended: this is where it
     * joins the job, and an error here kills it before it ever ran. */
    int (*track)(void *state, pid_t pid, pk_proc_ref proc, int new_session);
    /* An existing live child of the caller joins. */
    int (*adopt)(void *state, pid_t pid, pk_proc_ref proc);

    int (*signal)(void *state, int sig);
    int (*kill)(void *state);
    int (*suspend)(void *state);
    int (*resume)(void *state);
    int (*members)(void *state, pk_pid_list *out);
    int (*stats)(void *state, pk_group_stats *out);

    /* 1 when nothing in the container is alive any more (zombies the core
     * still has to reap may count as alive). A backend without
     * PK_FEATURE_ALL_MEMBERS may miss members here, so the core never skips
     * its kill on this answer alone. */
    int (*drained)(void *state);
    /* Optional: an fd that polls POLLPRI when drained() may have changed
     * (-1 or NULL: the core re-checks on a short interval). */
    int (*drain_fd)(void *state);
    /* Optional: the backend's own part of a group's containment report
     * (cgroup path...). */
    void (*describe)(void *state, pk_containment *out);

    /* ---- version 2 ---- */
    /* Optional: what this mechanism knows about the host, for every
     * containment report (the cgroup2 mount...), found without side effects. */
    void (*describe_host)(pk_containment *out);
} pk_backend_ops;

/* One row of the registry: a pk_backend id and its table, or why this
 * build has none (a backend of another OS). */
typedef struct pk_backend_row {
    int id;                    /* pk_backend */
    const pk_backend_ops *ops; /* NULL: not built into this library */
    const char *absent;        /* when ops is NULL: why, for messages */
} pk_backend_row;

/* Every pk_backend id, strongest mechanism first: the order in which
 * PK_BACKEND_AUTO tries them. */
const pk_backend_row *pk__backend_rows(size_t *count);

extern const pk_backend_ops pk__backend_cgroup_v2;
extern const pk_backend_ops pk__backend_process_group;
extern const pk_backend_ops pk__backend_fake;
extern const pk_backend_ops pk__backend_job_object;

/* The row of a pk_backend id, or NULL when the id is not a pk_backend
 * (PK_BACKEND_AUTO included). */
const pk_backend_row *pk__backend_row(int backend_id);

#endif
