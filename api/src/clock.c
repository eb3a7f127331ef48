/* The real clock behind the seam in clock.h, and the test substitution. */
#include "clock.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <unistd.h>

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

static void real_sleep_ms(uint64_t ms, int cancel_fd)
{
    const uint64_t max_ms = UINT64_MAX / 4000000u; /* about 146 years */
    if (ms > max_ms)
        ms = max_ms;
    uint64_t deadline = pk__now_ns() + ms * 1000000u;
    for (;;) {
        uint64_t now = pk__now_ns();
        if (now >= deadline)
            return;
        uint64_t left = (deadline - now + 999999u) / 1000000u;
        int timeout = left > 1000000000u ? 1000000000 : (int)left;
        struct pollfd pfd = {.fd = cancel_fd, .events = POLLIN};
        int n = poll(&pfd, cancel_fd >= 0 ? 1 : 0, timeout);
        if (n > 0)
            return; /* the fd is readable (or broken): stop waiting either way */
        if (n < 0 && errno != EINTR)
            return;
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
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = mix(pk__now_ns() ^ ((uint64_t)getpid() << 32));
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

void pk__clock_sleep_ms(uint64_t ms, int cancel_fd)
{
    const pk_clock_ops *ops = atomic_load(&fake_ops);
    if (ops && ops->sleep_ms)
        ops->sleep_ms(ops->ctx, ms, cancel_fd);
    else
        real_sleep_ms(ms, cancel_fd);
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
