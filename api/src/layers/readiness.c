/* Readiness probes: drive a run's loop until a line matches, a loopback
 * port accepts, or the caller's predicate holds; PK_ERR_NOT_READY (quoting
 * the last lines seen) otherwise. Never kills. The same on both OSes, but
 * for regular expressions (POSIX ERE, Linux only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "loop.h"
#include "sys.h"

static int contains(const char *line, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return 1;
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(line + i, needle, n) == 0)
            return 1;
    return 0;
}

/* A probe looks at each line: remember it for the error, and test it. */
void pk__probe_line(pk_process_obj *p, int stream, const char *line, size_t len)
{
    char *slot = p->seen[p->seen_count++ % 6];
    size_t n = len < 159 ? len : 159;
    memcpy(slot, line, n);
    slot[n] = '\0';
    if (p->probe.matched || (p->probe.stream && p->probe.stream != stream))
        return;
#ifndef _WIN32
    if (p->probe.use_regex) {
        /* regexec wants a C string; a NUL inside the line ends the match. */
        char buf[4096];
        size_t m = len < sizeof buf - 1 ? len : sizeof buf - 1;
        memcpy(buf, line, m);
        buf[m] = '\0';
        p->probe.matched = regexec(&p->probe.regex, buf, 0, NULL, 0) == 0;
        return;
    }
#endif
    p->probe.matched = contains(line, len, p->probe.substring);
}


static int probe_ms_left(uint64_t deadline)
{
    if (deadline == UINT64_MAX)
        return -1;
    return pk__ms_until(deadline, pk__now_ns());
}

/* The "not ready" error, with what the probe saw. */
/* PK_ERR_NOT_READY, saying how long the probe really waited (a run that
 * ends first ends the wait early). */
static int not_ready(pk_process_obj *p, const char *what, uint64_t started_ns)
{
    char seen[6 * 170] = "";
    size_t used = 0;
    unsigned n = p->seen_count < 6 ? p->seen_count : 6;
    for (unsigned i = 0; i < n; i++) {
        const char *line = p->seen[(p->seen_count - n + i) % 6];
        int w = snprintf(seen + used, sizeof seen - used, "%s%s", i ? " | " : "", line);
        if (w < 0 || (size_t)w >= sizeof seen - used)
            break;
        used += (size_t)w;
    }
    const char *why = atomic_load(&p->done) ? "the run ended" : "no match";
    const unsigned long long waited_ms = (pk__now_ns() - started_ns) / 1000000u;
    return pk__fail(PK_ERR_NOT_READY, "%s: not ready (%s) after %llu ms waiting for %s; last lines seen: %s",
                    p->plan.program, why, waited_ms, what, n ? seen : "(none)");
}

/* A probe's record, kept for pk_process_readiness: what it waits for now,
 * and, at its end, how it ended. With the loop's lock held. */
static void probe_begins(pk_process_obj *p, int kind, int stream, unsigned port)
{
    pk_readiness_info *r = &p->readiness;
    memset(r, 0, sizeof *r);
    r->size = sizeof *r;
    r->kind = kind;
    r->outcome = PK_READY_PENDING;
    r->stream = stream;
    r->port = port;
}

static int probe_ends(pk_process_obj *p, uint64_t started_ns, int rc)
{
    pthread_mutex_lock(&p->loop->lock);
    pk_readiness_info *r = &p->readiness;
    r->waited_us = (pk__now_ns() - started_ns) / 1000u;
    if (rc == PK_OK)
        r->outcome = PK_READY_MET;
    else if (rc == PK_ERR_NOT_READY)
        r->outcome = atomic_load(&p->done) ? PK_READY_RUN_ENDED : PK_READY_TIMED_OUT;
    else if (rc == PK_ERR_CANCELLED)
        r->outcome = PK_READY_WOKEN;
    else
        r->outcome = PK_READY_FAILED;
    if (r->kind == PK_READY_LINE) {
        r->lines_seen = p->seen_count;
        if (p->seen_count)
            pk__format(r->last_line, sizeof r->last_line, "%s", p->seen[(p->seen_count - 1) % 6]);
    }
    pthread_mutex_unlock(&p->loop->lock);
    return rc;
}

/* Lines that came before the probe: the complete ones in the capture are
 * tested; a trailing partial one primes the splitter so it is completed. */
static void probe_backlog(pk_process_obj *p)
{
    for (int s = 1; s <= 2 && !p->probe.matched; s++) {
        pk_capture *c = &p->cap[s];
        if (!c->buf || c->head) /* a wrapped tail ring: its start is not a line start */
            continue;
        size_t start = 0;
        for (size_t i = 0; i < c->len; i++) {
            if (c->buf[i] == '\n') {
                pk__probe_line(p, s, (const char *)c->buf + start, i - start);
                start = i + 1;
            }
        }
        int splitter_in_use = p->plan.line_fn[s] || p->plan.event_fn;
        if (!splitter_in_use && start < c->len && p->lines[s].len == 0)
            pk__lines_feed(&p->lines[s], c->buf + start, c->len - start, s, pk__run_emit_line, p);
    }
}

static int probe_finished(pk_process_obj *p, int *matched)
{
    pthread_mutex_lock(&p->loop->lock);
    *matched = p->probe.matched;
    int over = *matched || atomic_load(&p->done);
    pthread_mutex_unlock(&p->loop->lock);
    return over;
}

int pk__process_wait_for_line(pk_process_obj *p, int stream, const char *pattern, uint32_t flags, int timeout_ms)
{
    pthread_mutex_lock(&p->loop->lock);
    if (p->probe.active) {
        pthread_mutex_unlock(&p->loop->lock);
        return pk__fail(PK_ERR_STATE, "pk_process_wait_for_line: another probe is running on this process");
    }
    memset(&p->probe, 0, sizeof p->probe);
    const uint64_t started = pk__now_ns();
    probe_begins(p, PK_READY_LINE, stream, 0);
    if (flags & PK_MATCH_REGEX) {
#ifdef _WIN32
        pthread_mutex_unlock(&p->loop->lock);
        return probe_ends(p, started,
                          pk__fail(PK_ERR_UNSUPPORTED, "pk_process_wait_for_line: regular expressions are POSIX ERE, "
                                                       "not built for Windows; match a substring instead"));
#else
        int err = regcomp(&p->probe.regex, pattern, REG_EXTENDED | REG_NOSUB);
        if (err != 0) {
            char msg[128];
            regerror(err, &p->probe.regex, msg, sizeof msg);
            pthread_mutex_unlock(&p->loop->lock);
            return probe_ends(p, started,
                              pk__fail(PK_ERR_INVALID, "pk_process_wait_for_line: bad regex '%s': %s", pattern, msg));
        }
        p->probe.use_regex = 1;
#endif
    }
    p->probe.substring = pattern;
    p->probe.stream = stream;
    p->probe.active = 1;
    p->seen_count = 0;
    probe_backlog(p);
    pthread_mutex_unlock(&p->loop->lock);

    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : started + (uint64_t)timeout_ms * 1000000u;
    int rc = PK_OK, matched = 0;
    while (!probe_finished(p, &matched)) {
        int left = probe_ms_left(deadline);
        if (left == 0)
            break;
        rc = pk__loop_turn(p->loop, left, "pk_process_wait_for_line");
        if (rc != PK_OK)
            break;
    }
    pthread_mutex_lock(&p->loop->lock);
    matched = p->probe.matched;
    p->probe.active = 0;
    /* Without callbacks nobody feeds the splitter once the probe is gone:
     * drop its partial line, which the next probe re-reads from the capture. */
    for (int s = 1; s <= 2; s++)
        if (!p->plan.line_fn[s] && !p->plan.event_fn)
            p->lines[s].len = 0;
#ifndef _WIN32
    if (p->probe.use_regex)
        regfree(&p->probe.regex);
#endif
    p->probe.use_regex = 0;
    if (rc == PK_OK && !matched) {
        char what[200];
        pk__format(what, sizeof what, "a line %s '%s'", (flags & PK_MATCH_REGEX) ? "matching" : "containing",
                   pattern);
        rc = not_ready(p, what, started);
    }
    pthread_mutex_unlock(&p->loop->lock);
    return probe_ends(p, started, rc);
}

/* Between attempts the loop keeps running, so the program's output is read
 * (and it cannot block on a full pipe) while we wait. */
#define PROBE_RETRY_MS 50
/* How long one connection attempt may take. Windows answers a refused
 * loopback connect only after retrying the SYN for about 2 s, so there an
 * attempt is kept as short as the loop's turn; Linux refuses at once. */
#ifdef _WIN32
#define PORT_ATTEMPT_MS PROBE_RETRY_MS
#else
#define PORT_ATTEMPT_MS 1000
#endif

int pk__process_wait_for_port(pk_process_obj *p, uint16_t port, int timeout_ms)
{
    const uint64_t started = pk__now_ns();
    pthread_mutex_lock(&p->loop->lock);
    probe_begins(p, PK_READY_PORT, 0, port);
    pthread_mutex_unlock(&p->loop->lock);
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : started + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        int left = probe_ms_left(deadline);
        if (pk__tcp_port_open(port, left < 0 || left > PORT_ATTEMPT_MS ? PORT_ATTEMPT_MS : left))
            return probe_ends(p, started, PK_OK);
        left = probe_ms_left(deadline);
        if (left == 0 || atomic_load(&p->done))
            break;
        int rc = pk__loop_turn(p->loop, left < 0 || left > PROBE_RETRY_MS ? PROBE_RETRY_MS : left,
                               "pk_process_wait_for_port");
        if (rc != PK_OK)
            return probe_ends(p, started, rc);
    }
    char what[64];
    pk__format(what, sizeof what, "127.0.0.1:%u to accept a connection", (unsigned)port);
    return probe_ends(p, started, not_ready(p, what, started));
}

int pk__process_wait_for(pk_process_obj *p, pk_ready_fn ready, void *user, uint32_t interval_ms, int timeout_ms)
{
    const uint64_t started = pk__now_ns();
    pthread_mutex_lock(&p->loop->lock);
    probe_begins(p, PK_READY_CHECK, 0, 0);
    pthread_mutex_unlock(&p->loop->lock);
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : started + (uint64_t)timeout_ms * 1000000u;
    int every = interval_ms ? (int)(interval_ms > 60000 ? 60000 : interval_ms) : PROBE_RETRY_MS;
    for (;;) {
        if (ready(user))
            return probe_ends(p, started, PK_OK);
        int left = probe_ms_left(deadline);
        if (left == 0 || atomic_load(&p->done))
            break;
        int rc = pk__loop_turn(p->loop, left < 0 || left > every ? every : left, "pk_process_wait_for");
        if (rc != PK_OK)
            return probe_ends(p, started, rc);
    }
    return probe_ends(p, started, not_ready(p, "the caller's readiness check", started));
}
