/* A direct child of the caller: its pidfd, and its status once reaped. Shared
 * by the caller's pk_child handle and the group that spawned it, so whichever
 * reaps first caches the status for the other. */
#ifndef PK_CHILD_H
#define PK_CHILD_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "handle.h"
#include "processkit.h"

typedef struct pk_child_obj {
    pk_object obj;
    pthread_mutex_t lock;
    pid_t pid;
    int pidfd;               /* kept open until destroy, so pollfd stays valid */
    int reaped;              /* status is final */
    int lost;                /* someone else reaped it; status unknown */
    pk_exit_status status;
    atomic_int handle_released; /* the caller freed its handle */
} pk_child_obj;

/* Takes ownership of pidfd. The object starts with one reference. */
int pk__child_new(pid_t pid, int pidfd, pk_child_obj **out);

/* Reaps the child if it has exited, waiting up to timeout_ms (-1 forever).
 * Returns 1 once reaped (now or before), 0 if still running, or an error. */
int pk__child_reap(pk_child_obj *child, int timeout_ms);

/* Non-zero once the child can no longer be waited for (reaped or lost). */
int pk__child_is_done(pk_child_obj *child);

#endif
