/* A direct child of the caller: a reference that pins its identity (a pidfd
 * on Linux, a process HANDLE on Windows), and its status once reaped. Shared
 * by the caller's pk_child handle and the group that spawned it, so
 * whichever reaps first caches the status for the other.
 *
 * child.c holds the portable part and the public pk_child_* functions;
 * child_linux.c / child_windows.c hold what touches the OS. */
#ifndef PK_CHILD_H
#define PK_CHILD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "handle.h"
#include "platform.h"
#include "processkit.h"

struct pk_spawn_request;

typedef struct pk_child_obj {
    pk_object obj;
    pthread_mutex_t lock;
    int32_t pid;
    pk_proc_ref proc;        /* kept open until destroy, so pollfd stays valid */
    void *thread;            /* Windows: the main thread while it is held suspended */
    int reaped;              /* status is final */
    int lost;                /* someone else reaped it; status unknown */
    pk_exit_status status;
    atomic_int handle_released; /* the caller freed its handle */
} pk_child_obj;

/* Takes ownership of proc. The object starts with one reference. */
int pk__child_new(int32_t pid, pk_proc_ref proc, pk_child_obj **out);

/* Reaps the child if it has exited, waiting up to timeout_ms (-1 forever).
 * Returns 1 once reaped (now or before), 0 if still running, or an error. */
int pk__child_reap(pk_child_obj *child, int timeout_ms);

/* Non-zero once the child can no longer be waited for (reaped or lost). */
int pk__child_is_done(pk_child_obj *child);

/* ---- implemented per OS ---- */

/* Starts the process req describes. On Windows it is created suspended so
 * the backend can place it before it runs a single instruction; on Linux it
 * was placed at birth. Either way pk__child_start lets it go. On failure
 * nothing is left running. */
int pk__child_spawn(const struct pk_spawn_request *req, pk_child_obj **out);
int pk__child_start(pk_child_obj *child);

/* Kills and reaps a child the core could not contain, then drops the
 * caller's reference. */
void pk__child_discard(pk_child_obj *child);

/* Sleeps until one of the children may have exited, drain_fd (a backend's
 * POLLPRI fd, or -1) fires, or timeout_ms passes. */
void pk__child_wait_any(pk_child_obj *const *children, size_t count, int drain_fd, int timeout_ms);

/* With child->lock held and the child not reaped: one non-blocking reap
 * attempt (1 reaped or lost, 0 running, or an error). */
int pk__child_reap_now(pk_child_obj *child);
/* Blocks until the process may have exited or timeout_ms (-1 forever)
 * passes; 1 ready, 0 timeout, or an error. */
int pk__proc_wait(pk_child_obj *child, int timeout_ms);
/* With child->lock held and the child not reaped: sends sig. */
int pk__proc_signal(pk_child_obj *child, int sig);
/* The fd a host can poll for the child's exit. */
int pk__proc_pollfd(pk_child_obj *child, int *fd);
void pk__proc_close(pk_proc_ref proc);

/* Opens a reference to a live direct child of the caller for adoption:
 * 1 opened, 0 it already exited (nothing to contain), or an error. */
int pk__proc_open_child(int32_t pid, pk_proc_ref *out);

#endif
