/* peer_common.h: what every C driver of the peer benchmarks shares.
 *
 * The driver protocol (the same for the C, Rust, Go and Python drivers):
 *
 *   DRIVER --impl NAME --scenario NAME --iterations N [--warmup K]
 *
 * runs K unrecorded warm-up iterations, then N measured ones, and prints one
 * JSON object per line on stdout:
 *
 *   {"scenario":S,"impl":I,"value":V,"unit":"us"}        one measured sample
 *   {"scenario":S,"impl":I,"unsupported":"why"}          no such capability
 *   {"scenario":S,"impl":I,"note":"text"}                context (mechanism...)
 *
 * Anything else goes to stderr. A failed check (wrong byte count, non-zero
 * exit, a tree that does not die) exits 1 after cleaning up.
 *
 * Scenarios (see bench/peers/README.md for each implementation's calls):
 *   spawn_wait_true   /bin/true spawned and waited                       (us)
 *   capture_small     `head -c 1024 /dev/zero`, stdout captured           (us)
 *   capture_256MiB    `head -c 268435456 /dev/zero`, captured fully       (us)
 *   concurrent_16     16 `seq 1000` at once (1000 lines each), all captured (us)
 *   concurrent_256    the same with 256                                   (us)
 *   teardown_1000     a shell with 1000 `sleep 600` children, killed by the
 *                     implementation's group kill; timed from the kill call
 *                     until no member is running                          (us)
 *   rss_per_child     the caller's VmRSS growth while 100 `sleep 30` children
 *                     are alive, divided by 100                          (KiB)
 */
#ifndef PEER_COMMON_H
#define PEER_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BIG_BYTES 268435456ull   /* capture_256MiB */
#define SMALL_BYTES 1024ull      /* capture_small */
#define SEQ_BYTES 3893ull        /* the output of `seq 1000` */
#define TREE_SIZE 1000           /* teardown_1000 */
#define RSS_CHILDREN 100         /* rss_per_child */

static const char *const TREE_SCRIPT = "for i in $(seq 1000); do sleep 600 & done; wait";

typedef struct peer_args {
    const char *impl, *scenario;
    int iterations, warmup;
} peer_args;

static void (*peer_cleanup_hook)(void);

static __attribute__((unused)) void peer_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static __attribute__((unused)) void peer_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("driver: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (peer_cleanup_hook)
        peer_cleanup_hook();
    exit(1);
}

static __attribute__((unused)) void peer_parse_args(int argc, char **argv, peer_args *a)
{
    a->impl = NULL;
    a->scenario = NULL;
    a->iterations = 10;
    a->warmup = 1;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--impl") == 0 && v)
            a->impl = v, i++;
        else if (strcmp(argv[i], "--scenario") == 0 && v)
            a->scenario = v, i++;
        else if (strcmp(argv[i], "--iterations") == 0 && v)
            a->iterations = atoi(v), i++;
        else if (strcmp(argv[i], "--warmup") == 0 && v)
            a->warmup = atoi(v), i++;
        else {
            fprintf(stderr, "usage: %s --impl NAME --scenario NAME --iterations N [--warmup K]\n", argv[0]);
            exit(2);
        }
    }
    if (!a->impl || !a->scenario || a->iterations < 0 || a->warmup < 0) {
        fprintf(stderr, "usage: %s --impl NAME --scenario NAME --iterations N [--warmup K]\n", argv[0]);
        exit(2);
    }
}

static __attribute__((unused)) uint64_t peer_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static __attribute__((unused)) double peer_us_since(uint64_t t0)
{
    return (double)(peer_now_ns() - t0) / 1000.0;
}

static __attribute__((unused)) void peer_emit(const peer_args *a, double value, const char *unit)
{
    printf("{\"scenario\":\"%s\",\"impl\":\"%s\",\"value\":%.3f,\"unit\":\"%s\"}\n", a->scenario, a->impl, value,
           unit);
    fflush(stdout);
}

static __attribute__((unused)) void peer_emit_text(const peer_args *a, const char *key, const char *text)
{
    printf("{\"scenario\":\"%s\",\"impl\":\"%s\",\"%s\":\"", a->scenario, a->impl, key);
    for (const char *p = text; *p; p++) {
        if (*p == '"' || *p == '\\')
            putchar('\\');
        if ((unsigned char)*p >= 0x20)
            putchar(*p);
    }
    printf("\"}\n");
    fflush(stdout);
}

/* ---------------------------------------------------------------- /proc */

typedef struct peer_stat {
    pid_t ppid;
    char state;
    char comm[64];
    unsigned long long starttime;
} peer_stat;

static __attribute__((unused)) int peer_read_stat(pid_t pid, peer_stat *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *open = strchr(buf, '('), *close = strrchr(buf, ')');
    if (!open || !close || close < open)
        return -1;
    size_t clen = (size_t)(close - open - 1);
    if (clen >= sizeof out->comm)
        clen = sizeof out->comm - 1;
    memcpy(out->comm, open + 1, clen);
    out->comm[clen] = '\0';
    /* After ") ": state(3) ppid(4) ... starttime(22). */
    char *p = close + 2;
    out->state = *p;
    int field = 3;
    while (*p && field < 22) {
        if (*p == ' ') {
            field++;
            if (field == 4)
                out->ppid = (pid_t)strtol(p + 1, NULL, 10);
        }
        p++;
    }
    out->starttime = strtoull(p, NULL, 10);
    return 0;
}

static __attribute__((unused)) long peer_vmrss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        peer_die("open /proc/self/status: %s", strerror(errno));
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    if (kib < 0)
        peer_die("no VmRSS in /proc/self/status");
    return kib;
}

/* ---------------------------------------------------------------- the teardown tree */

typedef struct peer_member {
    pid_t pid;
    unsigned long long starttime;
} peer_member;

typedef struct peer_tree {
    peer_member m[TREE_SIZE + 1]; /* [0] is the shell */
    size_t n;
    size_t sleeping;
} peer_tree;

static peer_tree g_peer_tree;

/* Waits (60 s at most) until the shell runs TREE_SIZE `sleep` children, and
 * records them with their start times (so a recycled pid is never mistaken
 * for a member). */
static __attribute__((unused)) void peer_await_tree(pid_t shell)
{
    peer_tree *t = &g_peer_tree;
    peer_stat st;
    if (peer_read_stat(shell, &st) != 0)
        peer_die("teardown: the shell %d is gone", (int)shell);
    t->m[0].pid = shell;
    t->m[0].starttime = st.starttime;
    uint64_t deadline = peer_now_ns() + 60ull * 1000000000u;
    for (;;) {
        t->n = 1;
        t->sleeping = 0;
        DIR *d = opendir("/proc");
        if (!d)
            peer_die("opendir /proc: %s", strerror(errno));
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] < '1' || e->d_name[0] > '9')
                continue;
            pid_t pid = (pid_t)atoi(e->d_name);
            if (peer_read_stat(pid, &st) != 0 || st.ppid != shell || t->n > TREE_SIZE)
                continue;
            t->m[t->n].pid = pid;
            t->m[t->n].starttime = st.starttime;
            t->n++;
            if (strcmp(st.comm, "sleep") == 0 && st.state != 'Z')
                t->sleeping++;
        }
        closedir(d);
        if (t->n == TREE_SIZE + 1 && t->sleeping == TREE_SIZE)
            return;
        if (peer_now_ns() >= deadline)
            peer_die("teardown: %zu children (%zu running sleep) instead of %d", t->n - 1, t->sleeping, TREE_SIZE);
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static __attribute__((unused)) int peer_member_running(size_t i)
{
    peer_stat st;
    if (peer_read_stat(g_peer_tree.m[i].pid, &st) != 0 || st.starttime != g_peer_tree.m[i].starttime)
        return 0;
    return st.state != 'Z' && st.state != 'X';
}

/* Polls (every 200 us, a cursor over the known members) until no member of
 * the tree runs; dies after 30 s. A dead member stays dead. */
static __attribute__((unused)) void peer_wait_tree_gone(void)
{
    uint64_t deadline = peer_now_ns() + 30ull * 1000000000u;
    size_t cursor = 0;
    for (;;) {
        while (cursor < g_peer_tree.n && !peer_member_running(cursor))
            cursor++;
        if (cursor == g_peer_tree.n)
            return;
        if (peer_now_ns() >= deadline)
            peer_die("teardown: member %d still running 30 s after the kill", (int)g_peer_tree.m[cursor].pid);
        struct timespec ts = {0, 200 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* The tree's orphans become our zombies (the driver is a child subreaper
 * during teardown_1000); reap whatever has exited. Only call this when no
 * library still has to reap a child of its own. */
static __attribute__((unused)) void peer_reap_orphans(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

static __attribute__((unused)) void peer_become_subreaper(void)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        peer_die("prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));
}

#endif
