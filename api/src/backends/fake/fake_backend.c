#include "fake_backend.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "sys.h"

static pk_fake_state *last;
static int preset_hold_busy, preset_fail_create;

pk_fake_state *pk__fake_last(void)
{
    return last;
}

void pk__fake_preset(int hold_busy, int fail_create)
{
    preset_hold_busy = hold_busy;
    preset_fail_create = fail_create;
}

static void note(pk_fake_state *s, char c)
{
    size_t n = strlen(s->log);
    if (n + 1 < sizeof s->log)
        s->log[n] = c;
}

static void probe(pk_backend_probe *out)
{
    memset(out, 0, sizeof *out);
    out->available = 1;
    out->features = PK_FEATURE_SIGNALS | PK_FEATURE_ALL_MEMBERS; /* it sees every member it was told of */
}

static int create(const pk_limits *limits, void **state)
{
    (void)limits;
    if (preset_fail_create)
        return pk__fail(preset_fail_create, "fake backend: create fails as the test asked");
    pk_fake_state *s = calloc(1, sizeof *s);
    if (!s)
        return pk__fail(PK_ERR_NOMEM, "out of memory");
    if (last && last->destroys)
        free(last);
    s->hold_busy = preset_hold_busy;
    s->creates = 1;
    note(s, 'C');
    last = s;
    *state = s;
    return PK_OK;
}

static void destroy(void *state, int spare)
{
    pk_fake_state *s = state;
    for (int i = 0; i < s->pid_count; i++)
        close(s->pidfds[i]);
    /* The state outlives the group so tests can read what happened; it is
     * freed when the next fake group replaces it. */
    __atomic_add_fetch(&s->destroys, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&s->destroy_spare, spare, __ATOMIC_SEQ_CST);
    s->pid_count = 0;
    note(s, 'D');
}

static int prepare_spawn(void *state, pk_spawn_target *target)
{
    (void)target;
    pk_fake_state *s = state;
    __atomic_add_fetch(&s->spawns, 1, __ATOMIC_SEQ_CST);
    note(s, 'P');
    return PK_OK;
}

static int keep(pk_fake_state *s, int pidfd)
{
    if (s->pid_count == 64)
        return pk__fail(PK_ERR_NOMEM, "fake backend: 64 children at most");
    int fd = fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return pk__fail(PK_ERR_OS, "fake backend: dup");
    s->pidfds[s->pid_count++] = fd;
    return PK_OK;
}

static int track(void *state, pid_t pid, int pidfd, int new_session)
{
    (void)pid, (void)new_session;
    pk_fake_state *s = state;
    __atomic_add_fetch(&s->tracks, 1, __ATOMIC_SEQ_CST);
    note(s, 'T');
    return keep(s, pidfd);
}

static int adopt(void *state, pid_t pid, int pidfd)
{
    (void)pid;
    pk_fake_state *s = state;
    __atomic_add_fetch(&s->adopts, 1, __ATOMIC_SEQ_CST);
    note(s, 'A');
    return keep(s, pidfd);
}

static void send_all(pk_fake_state *s, int sig)
{
    for (int i = 0; i < s->pid_count; i++)
        (void)pk__pidfd_send_signal(s->pidfds[i], sig);
}

static int signal_all(void *state, int sig)
{
    pk_fake_state *s = state;
    __atomic_add_fetch(&s->signals, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&s->last_signal, sig, __ATOMIC_SEQ_CST);
    note(s, 'S');
    send_all(s, sig);
    return PK_OK;
}

static int kill_all(void *state)
{
    pk_fake_state *s = state;
    __atomic_add_fetch(&s->kills, 1, __ATOMIC_SEQ_CST);
    note(s, 'K');
    send_all(s, SIGKILL);
    return PK_OK;
}

static int suspend(void *state)
{
    __atomic_add_fetch(&((pk_fake_state *)state)->suspends, 1, __ATOMIC_SEQ_CST);
    return PK_OK;
}

static int resume(void *state)
{
    __atomic_add_fetch(&((pk_fake_state *)state)->resumes, 1, __ATOMIC_SEQ_CST);
    return PK_OK;
}

static int live(pk_fake_state *s, pk_pid_list *out)
{
    int n = 0;
    for (int i = 0; i < s->pid_count; i++) {
        struct pollfd p = {.fd = s->pidfds[i], .events = POLLIN};
        if (poll(&p, 1, 0) == 0) {
            n++;
            if (out)
                (void)pk__pid_list_push(out, i);
        }
    }
    return n;
}

static int members(void *state, pk_pid_list *out)
{
    live(state, out);
    return PK_OK;
}

static int stats(void *state, pk_group_stats *out)
{
    out->live_processes = (uint32_t)live(state, NULL);
    out->cpu_time_us = -1;
    out->peak_memory_bytes = -1;
    return PK_OK;
}

static int drained(void *state)
{
    pk_fake_state *s = state;
    return !__atomic_load_n(&s->hold_busy, __ATOMIC_SEQ_CST) && live(s, NULL) == 0;
}

const pk_backend_ops pk__backend_fake = {
    .version = 1,
    .name = "fake",
    .backend_id = -1,
    .mechanism = PK_MECHANISM_PROCESS_GROUP,
    .probe = probe,
    .create = create,
    .destroy = destroy,
    .prepare_spawn = prepare_spawn,
    .track = track,
    .adopt = adopt,
    .signal = signal_all,
    .kill = kill_all,
    .suspend = suspend,
    .resume = resume,
    .members = members,
    .stats = stats,
    .drained = drained,
};
