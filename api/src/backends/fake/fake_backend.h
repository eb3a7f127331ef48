/* A backend that contains nothing and records every call (counters are
 * updated atomically, so a test thread may watch them), so unit tests can
 * check what the core asks of a backend (and in what order) on any host.
 * Children spawned on it are real but uncontained; its kill SIGKILLs each
 * of them through its pidfd so tests leave nothing behind. */
#ifndef PK_FAKE_BACKEND_H
#define PK_FAKE_BACKEND_H

#include "backend.h"

typedef struct pk_fake_state {
    int creates, destroys, spawns, tracks, adopts, kills, signals, suspends, resumes;
    int last_signal;
    int destroy_spare;  /* the spare flag destroy got */
    int hold_busy;      /* tests set: drained() answers 0 while non-zero */
    int fail_create;    /* tests set: create fails with this pk_error */
    int pidfds[64];     /* dups of tracked children's pidfds */
    int pid_count;
    char log[512];      /* one letter per call: C create, P spawn, T track, A adopt, K kill, S signal, D destroy */
} pk_fake_state;

/* The state of the most recently created fake group (NULL before any). */
pk_fake_state *pk__fake_last(void);
/* Settings copied into the next fake group's state (hold_busy, fail_create). */
void pk__fake_preset(int hold_busy, int fail_create);

#endif
