/* The clock seam of the higher layers (retry and supervision): monotonic
 * time, an interruptible sleep and a uniform random source, each of which a
 * unit test may replace with a fake, so a backoff sequence is checked
 * exactly and in no time. Plain C, no atomics: C++ tests include it. */
#ifndef PK_CLOCK_H
#define PK_CLOCK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A substitute clock. Any member may be NULL: that one stays real. */
typedef struct pk_clock_ops {
    uint64_t (*now_ms)(void *ctx);                        /* monotonic milliseconds */
    void (*sleep_ms)(void *ctx, uint64_t ms, int cancel_fd); /* may return early when cancel_fd is readable */
    double (*random)(void *ctx);                          /* uniform in [0, 1) */
    void *ctx;
} pk_clock_ops;

/* Monotonic milliseconds (an arbitrary origin). */
uint64_t pk__clock_now_ms(void);

/* Sleeps @ms, returning early as soon as @cancel_fd (when >= 0) polls
 * readable: a cancellation token's eventfd, or an epoll set of several. */
void pk__clock_sleep_ms(uint64_t ms, int cancel_fd);

/* Uniform in [0, 1) from a per-process generator (splitmix64 over an atomic
 * counter seeded once from getrandom, else the clock and pid): thread-safe
 * and lock-free. Not for cryptography. */
double pk__clock_random(void);

/* Tests only: route the three calls above through @ops (NULL restores the
 * real clock). @ops must stay valid until it is replaced. */
void pk__clock_set_for_test(const pk_clock_ops *ops);

#ifdef __cplusplus
}
#endif

#endif
