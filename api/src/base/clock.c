/* The real clock behind the seam in clock.h, and the test substitution. */
#ifdef _WIN32
#define _CRT_RAND_S /* rand_s, from the C runtime's system random source */
#include <stdlib.h>
#include <windows.h>
#else
#include <errno.h>
#include <poll.h>
#include <sys/random.h>
#include <unistd.h>
#endif
#include <pthread.h>
#include <stdatomic.h>

#include "clock.h"

#include "sys.h"

static _Atomic(const pk_clock_ops *) fake_ops;

static atomic_uint_fast64_t rng_state;
static pthread_once_t rng_once = PTHREAD_ONCE_INIT;

void pk__clock_set_for_test(const pk_clock_ops *ops)
{
    atomic_store(&fake_ops, ops);
}

static uint64_t real_now_ms(void)
{
    return pk__now_ns() / 1000000u;
}

static void real_sleep_ms(uint64_t ms, pk_wait_ref cancel)
{
    const uint64_t max_ms = UINT64_MAX / 4000000u; /* about 146 years */
    if (ms > max_ms)
        ms = max_ms;
    uint64_t deadline = pk__now_ns() + ms * 1000000u;
    for (;;) {
        uint64_t now = pk__now_ns();
        if (now >= deadline)
            return;
        int timeout = pk__ms_until(deadline, now);
#ifdef _WIN32
        if (!cancel) {
            Sleep((DWORD)timeout);
            continue;
        }
        DWORD w = WaitForMultipleObjects(cancel->count, cancel->handles, FALSE, (DWORD)timeout);
        if (w != WAIT_TIMEOUT)
            return; /* a token triggered (or the wait broke): stop waiting either way */
#else
        struct pollfd pfd = {.fd = cancel, .events = POLLIN};
        int n = poll(&pfd, cancel >= 0 ? 1 : 0, timeout);
        if (n > 0)
            return; /* the fd is readable (or broken): stop waiting either way */
        if (n < 0 && errno != EINTR)
            return;
#endif
    }
}

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void rng_seed(void)
{
    uint64_t seed = 0;
#ifdef _WIN32
    unsigned lo, hi;
    if (rand_s(&lo) == 0 && rand_s(&hi) == 0)
        seed = ((uint64_t)hi << 32) | lo;
    else
#else
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
#endif
        seed = mix(pk__now_ns() ^ ((uint64_t)(uint32_t)pk__self_pid() << 32));
    atomic_store(&rng_state, seed);
}

static double real_random(void)
{
    pthread_once(&rng_once, rng_seed);
    /* splitmix64: each caller takes its own step of the sequence. */
    uint64_t z = atomic_fetch_add(&rng_state, 0x9e3779b97f4a7c15u) + 0x9e3779b97f4a7c15u;
    return (double)(mix(z) >> 11) * 0x1.0p-53;
}

uint64_t pk__clock_now_ms(void)
{
    const pk_clock_ops *ops = atomic_load(&fake_ops);
    return ops && ops->now_ms ? ops->now_ms(ops->ctx) : real_now_ms();
}

void pk__clock_sleep_ms(uint64_t ms, pk_wait_ref cancel)
{
    const pk_clock_ops *ops = atomic_load(&fake_ops);
    if (ops && ops->sleep_ms)
        ops->sleep_ms(ops->ctx, ms, cancel);
    else
        real_sleep_ms(ms, cancel);
}

double pk__clock_random(void)
{
    const pk_clock_ops *ops = atomic_load(&fake_ops);
    double r = ops && ops->random ? ops->random(ops->ctx) : real_random();
    /* A fake that strays outside [0, 1) cannot push a delay out of range. */
    if (!(r >= 0.0))
        r = 0.0;
    if (r >= 1.0)
        r = 0x1.fffffffffffffp-1;
    return r;
}
