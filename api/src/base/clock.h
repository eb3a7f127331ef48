/* The clock seam of the higher layers (retry and supervision): monotonic
 * time, an interruptible sleep and a uniform random source, each of which a
 * unit test may replace with a fake, so a backoff sequence is checked
 * exactly and in no time. Plain C, no atomics: C++ tests include it. */
#ifndef PK_CLOCK_H
#define PK_CLOCK_H

#include <stdint.h>

#include "platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A substitute clock. Any member may be NULL: that one stays real. */
typedef struct pk_clock_ops {
    uint64_t (*now_ms)(void *ctx);                        /* monotonic milliseconds */
    void (*sleep_ms)(void *ctx, uint64_t ms, pk_wait_ref cancel); /* may return early when cancel is ready */
    double (*random)(void *ctx);                          /* uniform in [0, 1) */
    void *ctx;
} pk_clock_ops;

/* Monotonic milliseconds (an arbitrary origin). */
uint64_t pk__clock_now_ms(void);

/* Sleeps @ms, returning early as soon as @cancel (unless PK_WAIT_NONE) is
 * ready: see pk__cancel_wait_any. */
void pk__clock_sleep_ms(uint64_t ms, pk_wait_ref cancel);

/* Uniform in [0, 1) from a per-process generator (splitmix64 over an atomic
 * counter seeded once from the OS's random source, else the clock and pid): thread-safe
 * and lock-free. Not for cryptography. */
double pk__clock_random(void);

/* Tests only: route the three calls above through @ops (NULL restores the
 * real clock). @ops must stay valid until it is replaced. */
void pk__clock_set_for_test(const pk_clock_ops *ops);

#ifdef __cplusplus
}
#endif

#endif
