/* compare: processkit measured side by side with the raw system-call floors.
 *
 *   ./bazelw run //bench:compare -- [--json] [--quick] [--only SCENARIO-PREFIX]
 *
 * Every scenario runs its implementations interleaved in one process: each
 * iteration runs every implementation once, in an order that rotates from
 * one iteration to the next, so drift of the machine (a noisy neighbour, CPU
 * frequency, page cache) hits all of them alike. A warm-up round comes
 * first and is discarded. Per scenario and implementation the median and
 * p90 are reported, and ratio_to_raw = median / median of that scenario's
 * raw floor measured in the same run.
 *
 * Scenarios:
 *   spawn_wait_true        /bin/true spawned and waited (floor: posix_spawn + waitpid;
 *                          raw_pipe is a second reference with a stdout pipe)
 *   private_group_cost     diagnostic: an empty cgroup leaf / pk group / pk loop made
 *                          and freed, to attribute pk_run's overhead (no process)
 *   capture_256MiB[_dd]    256 MiB of stdout read to the end (floor: read() loop with a
 *                          64 KiB buffer discarding the data; raw_keep keeps every byte
 *                          in a growing buffer, as any capture must)
 *   teardown_1000          a tree of 1000 sleeping processes killed and drained
 *                          (floor: killpg + waiting until no member runs)
 *   wakeups_while_sleeping `sleep 1` on a pk_loop: loop returns and voluntary
 *                          context switches of the waiting thread (counts, not µs;
 *                          the floor is one poll() on the child's pidfd)
 *
 * The program leaves nothing behind: every group is freed (which kills its
 * tree and removes its cgroup leaf), raw trees are killed and reaped, and
 * the end of the run checks that no child process and no cgroup leaf of
 * this process remains. On any error it prints pk_last_error(), cleans up
 * and exits 1; SIGINT/SIGTERM stop it after the current iteration. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "processkit.h"

extern char **environ;

/* ---------------------------------------------------------------- config */

#define CAPTURE_BYTES 268435456ull /* 256 MiB */
#define TREE_SIZE 1000
#define RAW_CHUNK (64 * 1024)

typedef struct config {
    int json, quick;
    const char *only; /* run only scenarios whose name starts with this */
    int spawn_iters, spawn_warmup;
    int capture_iters, capture_warmup;
    int teardown_iters, teardown_warmup;
    int wakeup_iters;
} config;

static config cfg;

/* ---------------------------------------------------------------- state to clean up */

static volatile sig_atomic_t g_stop;
static pk_group *g_spawn_group;   /* the shared group of spawn_wait_true */
static pk_group *g_td_group;      /* the group of the teardown iteration in flight */
static pk_child *g_td_child;
static pid_t g_raw_tree = -1;     /* the raw teardown tree's leader (and pgid) */
static pid_t g_raw_child = -1;    /* a raw child in flight elsewhere */
static pk_loop *g_loop;
static int g_subreaper;
static char g_raw_leaf[4200];     /* a raw cgroup leaf in flight */

static void reap_orphans(void);
static int own_cgroup_dir(char *out, size_t len);

/* Kills and reaps whatever is still running, frees every handle. Safe to
 * call more than once. */
static void cleanup_all(void)
{
    if (g_td_group) {
        (void)pk_group_free(g_td_group);
        g_td_group = NULL;
    }
    if (g_td_child) {
        (void)pk_child_free(g_td_child);
        g_td_child = NULL;
    }
    if (g_spawn_group) {
        (void)pk_group_free(g_spawn_group);
        g_spawn_group = NULL;
    }
    if (g_loop) {
        (void)pk_loop_free(g_loop);
        g_loop = NULL;
    }
    if (g_raw_tree > 0) {
        (void)killpg(g_raw_tree, SIGKILL);
        (void)waitpid(g_raw_tree, NULL, 0);
        g_raw_tree = -1;
    }
    if (g_raw_child > 0) {
        (void)kill(g_raw_child, SIGKILL);
        (void)waitpid(g_raw_child, NULL, 0);
        g_raw_child = -1;
    }
    if (g_raw_leaf[0]) {
        (void)rmdir(g_raw_leaf);
        g_raw_leaf[0] = '\0';
    }
    if (g_subreaper) {
        /* Give the killed trees a moment to turn into our zombies. */
        for (int i = 0; i < 50; i++) {
            reap_orphans();
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        (void)prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
        g_subreaper = 0;
    }
}

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("compare: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    cleanup_all();
    exit(1);
}

/* Checks a processkit call; on failure names it, with pk_last_error(). */
#define PK(call)                                                                                                 \
    do {                                                                                                         \
        int pk_rc_ = (call);                                                                                     \
        if (pk_rc_ != PK_OK) {                                                                                   \
            char msg_[1024];                                                                                     \
            snprintf(msg_, sizeof msg_, "%s", pk_last_error());                                                  \
            die("%s failed: %s (%d): %s", #call, pk_strerror(pk_rc_), pk_rc_, msg_);                              \
        }                                                                                                        \
    } while (0)

static void check_stop(void)
{
    if (g_stop) {
        fprintf(stderr, "compare: interrupted; cleaning up\n");
        cleanup_all();
        exit(130);
    }
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* --only: a scenario runs if its name starts with the prefix (or, for the
 * capture pair, if the prefix names one variant exactly). */
static int wanted(const char *scenario)
{
    if (!cfg.only)
        return 1;
    return strncmp(scenario, cfg.only, strlen(cfg.only)) == 0 || strncmp(cfg.only, scenario, strlen(scenario)) == 0;
}

static int wanted_exactly(const char *scenario)
{
    return !cfg.only || strncmp(scenario, cfg.only, strlen(cfg.only)) == 0;
}

/* ---------------------------------------------------------------- time and stats */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double us_since(uint64_t t0)
{
    return (double)(now_ns() - t0) / 1000.0;
}

typedef struct series {
    const char *scenario;
    const char *impl;
    const char *floor;  /* impl whose median is the ratio's denominator */
    const char *unit;   /* "us" or "count" */
    double *v;
    size_t n, cap;
    double aux_sum;     /* scenario-specific side value (summed) */
    size_t aux_n;
    char extra[160];
} series;

static series all_series[64];
static size_t series_count;

static series *new_series(const char *scenario, const char *impl, const char *floor, const char *unit)
{
    if (series_count == sizeof all_series / sizeof all_series[0])
        die("too many series");
    series *s = &all_series[series_count++];
    memset(s, 0, sizeof *s);
    s->scenario = scenario;
    s->impl = impl;
    s->floor = floor;
    s->unit = unit;
    return s;
}

static void add(series *s, double value)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        double *grown = realloc(s->v, cap * sizeof *grown);
        if (!grown)
            die("out of memory");
        s->v = grown;
        s->cap = cap;
    }
    s->v[s->n++] = value;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(series *s)
{
    if (!s->n)
        return NAN;
    qsort(s->v, s->n, sizeof *s->v, cmp_double);
    return s->n % 2 ? s->v[s->n / 2] : (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2.0;
}

/* Nearest-rank percentile. */
static double percentile(series *s, double p)
{
    if (!s->n)
        return NAN;
    qsort(s->v, s->n, sizeof *s->v, cmp_double);
    size_t rank = (size_t)ceil(p / 100.0 * (double)s->n);
    if (rank < 1)
        rank = 1;
    return s->v[rank - 1];
}

static series *find_series(const char *scenario, const char *impl)
{
    for (size_t i = 0; i < series_count; i++)
        if (strcmp(all_series[i].scenario, scenario) == 0 && strcmp(all_series[i].impl, impl) == 0)
            return &all_series[i];
    return NULL;
}

static double ratio_of(series *s)
{
    series *f = find_series(s->scenario, s->floor);
    double fm = f ? median(f) : NAN;
    double m = median(s);
    if (!(fm > 0))
        return m == 0 && fm == 0 ? 1.0 : NAN;
    return m / fm;
}

/* Runs n implementations in an order that rotates with the iteration. */
typedef void (*impl_fn)(int record);

static void round_robin(impl_fn *fns, int n, int iter, int record)
{
    for (int k = 0; k < n; k++) {
        check_stop();
        fns[(iter + k) % n](record);
    }
}

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("compare: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---------------------------------------------------------------- /proc helpers */

typedef struct proc_stat {
    char state;
    pid_t ppid, pgrp;
    unsigned long long starttime;
    char comm[64];
} proc_stat;

/* Reads /proc/PID/stat; 0 on success, -1 if the process does not exist. */
static int read_stat(pid_t pid, proc_stat *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *open_paren = strchr(buf, '('), *close_paren = strrchr(buf, ')');
    if (!open_paren || !close_paren)
        return -1;
    size_t clen = (size_t)(close_paren - open_paren - 1);
    if (clen >= sizeof out->comm)
        clen = sizeof out->comm - 1;
    memcpy(out->comm, open_paren + 1, clen);
    out->comm[clen] = '\0';
    int ppid, pgrp;
    /* fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime cutime cstime priority nice threads
     * itrealvalue starttime */
    if (sscanf(close_paren + 1,
               " %c %d %d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
               &out->state, &ppid, &pgrp, &out->starttime) != 4)
        return -1;
    out->ppid = ppid;
    out->pgrp = pgrp;
    return 0;
}

typedef void (*proc_visit)(pid_t pid, const proc_stat *st, void *ctx);

static void for_each_process(proc_visit visit, void *ctx)
{
    DIR *d = opendir("/proc");
    if (!d)
        die("opendir /proc: %s", strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        proc_stat st;
        if (read_stat(pid, &st) == 0)
            visit(pid, &st, ctx);
    }
    closedir(d);
}

/* ---------------------------------------------------------------- raw helpers */

static int spawn_raw(pid_t *pid, const char *path, char *const argv[], int stdout_fd, int own_pgroup, int search)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    if (stdout_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, stdout_fd, 1);
    if (own_pgroup) {
        posix_spawnattr_setpgroup(&attr, 0);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    }
    int rc = search ? posix_spawnp(pid, path, &fa, &attr, argv, environ)
                    : posix_spawn(pid, path, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc;
}

static void wait_raw_ok(pid_t pid, const char *what)
{
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            die("waitpid %s: %s", what, strerror(errno));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("%s: child ended with status 0x%x", what, status);
}

static void make_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        die("pipe2: %s", strerror(errno));
}

/* Checks a result through pk_run_info (cheap); on failure pk_result_check
 * supplies the message. pk_result_check itself is kept out of the timed
 * regions: it scans the captured output for its last line (see the capture
 * scenario, which times it separately). */
static void result_ok(pk_result *res, const char *what)
{
    pk_run_info info = PK_RUN_INFO_INIT;
    PK(pk_result_info(res, &info));
    if (info.success)
        return;
    int rc = pk_result_check(res);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", rc == PK_OK ? "(check passed?)" : pk_last_error());
    pk_result_free(res);
    die("%s: the run failed: %s: %s", what, pk_strerror(rc), msg);
}

/* ================================================================ spawn_wait_true */

static char *const true_argv[] = {"/bin/true", NULL};
static series *s_sp_raw, *s_sp_raw_pipe, *s_sp_group, *s_sp_fresh, *s_sp_run, *s_sp_noguard, *s_sp_capture;
static pk_command *c_true_null, *c_true_noguard, *c_true_capture;

static void sp_raw(int record)
{
    uint64_t t0 = now_ns();
    pid_t pid;
    int rc = spawn_raw(&pid, "/bin/true", true_argv, -1, 0, 0);
    if (rc != 0)
        die("posix_spawn /bin/true: %s", strerror(rc));
    wait_raw_ok(pid, "/bin/true");
    if (record)
        add(s_sp_raw, us_since(t0));
}

static void sp_raw_pipe(int record)
{
    static char buf[RAW_CHUNK];
    uint64_t t0 = now_ns();
    int fds[2];
    make_pipe(fds);
    pid_t pid;
    int rc = spawn_raw(&pid, "/bin/true", true_argv, fds[1], 0, 0);
    close(fds[1]);
    if (rc != 0)
        die("posix_spawn /bin/true: %s", strerror(rc));
    for (;;) {
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0 && errno != EINTR)
            die("read: %s", strerror(errno));
    }
    close(fds[0]);
    wait_raw_ok(pid, "/bin/true");
    if (record)
        add(s_sp_raw_pipe, us_since(t0));
}

static void sp_group(int record)
{
    uint64_t t0 = now_ns();
    pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
    so.program = "/bin/true";
    so.argv = (const char *const *)true_argv;
    pk_child *child;
    PK(pk_group_spawn(g_spawn_group, &so, &child));
    pk_exit_status st = PK_EXIT_STATUS_INIT;
    PK(pk_child_wait(child, -1, &st));
    PK(pk_child_free(child));
    double us = us_since(t0);
    if (st.kind != PK_EXIT_CODE || st.code != 0)
        die("pk_group_spawn /bin/true: ended kind %d code %d signal %d", st.kind, st.code, st.signal);
    if (record)
        add(s_sp_group, us);
}

/* A group of its own per spawn, through the group API: what a private
 * group costs without the loop (for attributing pk_run's overhead). */
static void sp_fresh(int record)
{
    uint64_t t0 = now_ns();
    pk_group_options go = PK_GROUP_OPTIONS_INIT;
    PK(pk_group_create(&go, &g_td_group));
    pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
    so.program = "/bin/true";
    so.argv = (const char *const *)true_argv;
    pk_child *child;
    PK(pk_group_spawn(g_td_group, &so, &child));
    pk_exit_status st = PK_EXIT_STATUS_INIT;
    PK(pk_child_wait(child, -1, &st));
    PK(pk_child_free(child));
    int rc = pk_group_free(g_td_group);
    g_td_group = NULL;
    PK(rc);
    double us = us_since(t0);
    if (st.kind != PK_EXIT_CODE || st.code != 0)
        die("pk_group_spawn /bin/true: ended kind %d code %d signal %d", st.kind, st.code, st.signal);
    if (record)
        add(s_sp_fresh, us);
}

static void sp_run_with(pk_command *cmd, series *s, int record)
{
    uint64_t t0 = now_ns();
    pk_result *res;
    PK(pk_command_run(cmd, &res));
    result_ok(res, "pk_command_run /bin/true");
    PK(pk_result_free(res));
    if (record)
        add(s, us_since(t0));
}

static void sp_run(int record)
{
    sp_run_with(c_true_null, s_sp_run, record);
}

static void sp_noguard(int record)
{
    sp_run_with(c_true_noguard, s_sp_noguard, record);
}

static void sp_capture(int record)
{
    sp_run_with(c_true_capture, s_sp_capture, record);
}

static void scenario_spawn(void)
{
    const char *sc = "spawn_wait_true";
    s_sp_raw = new_series(sc, "raw", "raw", "us");
    s_sp_raw_pipe = new_series(sc, "raw_pipe", "raw", "us");
    s_sp_group = new_series(sc, "pk_group_spawn", "raw", "us");
    s_sp_fresh = new_series(sc, "pk_group_fresh", "raw", "us");
    s_sp_run = new_series(sc, "pk_run", "raw", "us");
    s_sp_noguard = new_series(sc, "pk_run_noguard", "raw", "us");
    s_sp_capture = new_series(sc, "pk_run_capture", "raw", "us");

    pk_group_options go = PK_GROUP_OPTIONS_INIT;
    PK(pk_group_create(&go, &g_spawn_group));
    pk_containment c = PK_CONTAINMENT_INIT;
    PK(pk_group_containment(g_spawn_group, &c));
    snprintf(s_sp_group->extra, sizeof s_sp_group->extra, "one %s group", pk_mechanism_name(c.mechanism));

    PK(pk_command_new("/bin/true", &c_true_null));
    PK(pk_command_output(c_true_null, PK_STREAM_STDOUT, PK_OUTPUT_NULL, -1));
    PK(pk_command_output(c_true_null, PK_STREAM_STDERR, PK_OUTPUT_NULL, -1));
    PK(pk_command_new("/bin/true", &c_true_noguard));
    PK(pk_command_output(c_true_noguard, PK_STREAM_STDOUT, PK_OUTPUT_NULL, -1));
    PK(pk_command_output(c_true_noguard, PK_STREAM_STDERR, PK_OUTPUT_NULL, -1));
    pk_group_options noguard = PK_GROUP_OPTIONS_INIT;
    noguard.flags = PK_GROUP_NO_OWNER_DEATH_KILL;
    PK(pk_command_group_options(c_true_noguard, &noguard));
    PK(pk_command_new("/bin/true", &c_true_capture));
    snprintf(s_sp_fresh->extra, sizeof s_sp_fresh->extra, "group create + spawn + wait + group free per run");
    snprintf(s_sp_run->extra, sizeof s_sp_run->extra, "private group per run, stdout/stderr null");
    snprintf(s_sp_noguard->extra, sizeof s_sp_noguard->extra,
             "pk_run with PK_GROUP_NO_OWNER_DEATH_KILL (no keeper messages)");
    snprintf(s_sp_capture->extra, sizeof s_sp_capture->extra, "private group per run, both captured");
    snprintf(s_sp_raw_pipe->extra, sizeof s_sp_raw_pipe->extra, "stdout pipe read to EOF");

    impl_fn fns[] = {sp_raw, sp_raw_pipe, sp_group, sp_fresh, sp_run, sp_noguard, sp_capture};
    const int n = (int)(sizeof fns / sizeof fns[0]);
    progress("spawn_wait_true: %d warm-up + %d iterations x %d implementations", cfg.spawn_warmup, cfg.spawn_iters, n);
    for (int i = 0; i < cfg.spawn_warmup; i++)
        round_robin(fns, n, i, 0);
    for (int i = 0; i < cfg.spawn_iters; i++)
        round_robin(fns, n, i, 1);

    PK(pk_group_free(g_spawn_group));
    g_spawn_group = NULL;
    PK(pk_command_free(c_true_null));
    PK(pk_command_free(c_true_noguard));
    PK(pk_command_free(c_true_capture));
}

/* ================================================================ capture_256MiB */

typedef struct capture_variant {
    const char *scenario;
    const char *program;
    char *const *argv;
    series *raw, *keep, *pk;
    pk_command *cmd;
    double free_us_sum, check_us_sum;
    int free_n;
} capture_variant;

static char *const head_argv[] = {"head", "-c", "268435456", "/dev/zero", NULL};
static char *const dd_argv[] = {"dd", "if=/dev/zero", "bs=1M", "count=256", "status=none", NULL};
static capture_variant variants[2] = {
    {"capture_256MiB", "head", head_argv, NULL, NULL, NULL, NULL, 0, 0, 0},
    {"capture_256MiB_dd", "dd", dd_argv, NULL, NULL, NULL, NULL, 0, 0, 0},
};
static capture_variant *cur_variant;

/* keep = 0: read into one 64 KiB buffer and discard (the floor); keep = 1:
 * keep every byte in a buffer grown by doubling from 64 KiB, as a capture
 * must (the same growth policy as processkit's), freed at the end. */
static void cap_raw_impl(int record, int keep)
{
    static char scratch[RAW_CHUNK];
    capture_variant *v = cur_variant;
    uint64_t t0 = now_ns();
    int fds[2];
    make_pipe(fds);
    pid_t pid;
    int rc = spawn_raw(&pid, v->program, v->argv, fds[1], 0, 1);
    close(fds[1]);
    if (rc != 0)
        die("posix_spawnp %s: %s", v->program, strerror(rc));
    g_raw_child = pid;
    uint64_t total = 0;
    char *kept = NULL;
    size_t alloc = 0;
    for (;;) {
        char *dst = scratch;
        size_t room = sizeof scratch;
        if (keep) {
            if (total + RAW_CHUNK > alloc) {
                size_t grown_to = alloc ? alloc : RAW_CHUNK;
                while (grown_to < total + RAW_CHUNK)
                    grown_to *= 2;
                char *grown = realloc(kept, grown_to);
                if (!grown)
                    die("out of memory");
                kept = grown;
                alloc = grown_to;
            }
            dst = kept + total;
            room = alloc - total;
        }
        ssize_t n = read(fds[0], dst, room);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("read: %s", strerror(errno));
        }
        total += (uint64_t)n;
    }
    close(fds[0]);
    wait_raw_ok(pid, v->program);
    g_raw_child = -1;
    free(kept);
    double us = us_since(t0);
    if (total != CAPTURE_BYTES)
        die("raw %s: read %llu bytes, expected %llu", v->program, (unsigned long long)total, CAPTURE_BYTES);
    if (record)
        add(keep ? v->keep : v->raw, us);
}

static void cap_raw(int record)
{
    cap_raw_impl(record, 0);
}

static void cap_raw_keep(int record)
{
    cap_raw_impl(record, 1);
}

static void cap_pk(int record)
{
    capture_variant *v = cur_variant;
    uint64_t t0 = now_ns();
    pk_result *res;
    PK(pk_command_run(v->cmd, &res));
    result_ok(res, v->program);
    const uint8_t *data;
    size_t len;
    PK(pk_result_output(res, PK_STREAM_STDOUT, &data, &len));
    uint64_t t_check = now_ns();
    /* pk_result_check, timed apart from the capture (it is not part of
     * getting the bytes, and it costs O(output) here). */
    int check_rc = pk_result_check(res);
    uint64_t t_free = now_ns();
    if (len != CAPTURE_BYTES || check_rc != PK_OK) {
        pk_result_free(res);
        die("pk_run_capture %s: captured %zu bytes (expected %llu), check %d", v->program, len, CAPTURE_BYTES,
            check_rc);
    }
    PK(pk_result_free(res));
    uint64_t t_end = now_ns();
    double us = (double)((t_check - t0) + (t_end - t_free)) / 1000.0;
    if (record) {
        add(v->pk, us);
        v->free_us_sum += (double)(t_end - t_free) / 1000.0;
        v->check_us_sum += (double)(t_free - t_check) / 1000.0;
        v->free_n++;
    }
}

static void scenario_capture(void)
{
    for (int k = 0; k < 2; k++) {
        capture_variant *v = &variants[k];
        if (!wanted_exactly(v->scenario))
            continue;
        cur_variant = v;
        v->raw = new_series(v->scenario, "raw", "raw", "us");
        v->keep = new_series(v->scenario, "raw_keep", "raw", "us");
        v->pk = new_series(v->scenario, "pk_run_capture", "raw", "us");
        PK(pk_command_new(v->program, &v->cmd));
        for (int i = 1; v->argv[i]; i++)
            PK(pk_command_arg(v->cmd, v->argv[i]));
        PK(pk_command_output_limit(v->cmd, PK_STREAM_STDOUT, 0, PK_OVERFLOW_KEEP_HEAD)); /* no cap */

        impl_fn fns[] = {cap_raw, cap_raw_keep, cap_pk};
        progress("%s: %d warm-up + %d iterations x 3 implementations", v->scenario, cfg.capture_warmup,
                 cfg.capture_iters);
        for (int i = 0; i < cfg.capture_warmup; i++)
            round_robin(fns, 3, i, 0);
        for (int i = 0; i < cfg.capture_iters; i++)
            round_robin(fns, 3, i, 1);
        PK(pk_command_free(v->cmd));
        v->cmd = NULL;

        double mb = (double)CAPTURE_BYTES / 1e6;
        snprintf(v->raw->extra, sizeof v->raw->extra, "%.0f MB/s", mb / (median(v->raw) / 1e6));
        snprintf(v->keep->extra, sizeof v->keep->extra, "%.0f MB/s (keeps all bytes, realloc doubling)",
                 mb / (median(v->keep) / 1e6));
        int fn = v->free_n ? v->free_n : 1;
        snprintf(v->pk->extra, sizeof v->pk->extra,
                 "%.0f MB/s (incl. pk_result_free %.1f ms; pk_result_check apart: %.1f ms)",
                 mb / (median(v->pk) / 1e6), v->free_us_sum / fn / 1000.0, v->check_us_sum / fn / 1000.0);
    }
}

/* ================================================================ teardown_1000 */

static char *const tree_argv[] = {"sh", "-c", (char *)"for i in $(seq 1000); do sleep 600 & done; echo ready; wait",
                                  NULL};

typedef struct tree_member {
    pid_t pid;
    unsigned long long starttime;
} tree_member;

typedef struct tree {
    tree_member m[TREE_SIZE + 1]; /* [0] is the shell */
    size_t n;
    size_t sleeping;
} tree;

static tree g_tree;
static series *s_td_cg, *s_td_pg, *s_td_raw, *s_td_raw_proc;

static void reap_orphans(void)
{
    /* Orphans of our trees reparent to us (we are a child subreaper in this
     * scenario). processkit's own children carry no exit signal, so a plain
     * waitpid(-1) never sees them. */
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

static void collect_child(pid_t pid, const proc_stat *st, void *ctx)
{
    tree *t = ctx;
    if (st->ppid != t->m[0].pid || t->n > TREE_SIZE)
        return;
    t->m[t->n].pid = pid;
    t->m[t->n].starttime = st->starttime;
    t->n++;
    if (strcmp(st->comm, "sleep") == 0 && st->state != 'Z')
        t->sleeping++;
}

/* Reads the shell's "ready", then waits until all its children run sleep. */
static void await_tree(int rd, pid_t shell)
{
    char buf[256];
    size_t len = 0;
    uint64_t deadline = now_ns() + 60ull * 1000000000u;
    while (!memmem(buf, len, "ready\n", 6)) {
        check_stop();
        int left = (int)((deadline - now_ns()) / 1000000u);
        struct pollfd p = {.fd = rd, .events = POLLIN};
        if (now_ns() >= deadline || poll(&p, 1, left > 0 ? left : 0) == 0)
            die("teardown: the tree did not print ready within 60 s");
        ssize_t n = read(rd, buf + len, sizeof buf - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("teardown: the shell closed its stdout before ready");
        len += (size_t)n;
        if (len == sizeof buf - 1)
            die("teardown: unexpected output from the shell");
    }
    g_tree.m[0].pid = shell;
    proc_stat st;
    if (read_stat(shell, &st) != 0)
        die("teardown: the shell %d is gone", (int)shell);
    g_tree.m[0].starttime = st.starttime;
    for (;;) {
        check_stop();
        g_tree.n = 1;
        g_tree.sleeping = 0;
        for_each_process(collect_child, &g_tree);
        if (g_tree.n == TREE_SIZE + 1 && g_tree.sleeping == TREE_SIZE)
            break;
        if (now_ns() >= deadline)
            die("teardown: %zu children (%zu running sleep) instead of %d", g_tree.n - 1, g_tree.sleeping,
                TREE_SIZE);
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* After a teardown and the reaping of orphans: nothing of the tree may be
 * left, not even a zombie. */
static void verify_tree_gone(const char *impl)
{
    /* A killed member may still be finishing its exit for a moment after
     * the event that ended the timing (its pipe end or its cgroup
     * membership goes before it turns into a zombie); one that still runs
     * after 2 s escaped the kill. */
    size_t running = 0, zombies = 0;
    for (int attempt = 0; attempt < 200; attempt++) {
        reap_orphans();
        running = zombies = 0;
        for (size_t i = 0; i < g_tree.n; i++) {
            proc_stat st;
            if (read_stat(g_tree.m[i].pid, &st) != 0 || st.starttime != g_tree.m[i].starttime)
                continue;
            if (st.state == 'Z' || st.state == 'X')
                zombies++;
            else
                running++;
        }
        if (!running && !zombies)
            return;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    die("teardown %s: %zu processes of the tree still running, %zu zombies left", impl, running, zombies);
}

static void td_pk(int backend, series *s, int record)
{
    const char *impl = backend == PK_BACKEND_CGROUP_V2 ? "pk_cgroup_v2" : "pk_process_group";
    pk_group_options go = PK_GROUP_OPTIONS_INIT;
    go.backend = backend;
    PK(pk_group_create(&go, &g_td_group));
    pk_containment c = PK_CONTAINMENT_INIT;
    PK(pk_group_containment(g_td_group, &c));
    int fds[2];
    make_pipe(fds);
    pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
    so.program = "/bin/sh";
    so.argv = (const char *const *)tree_argv;
    so.stdout_fd = fds[1];
    int rc = pk_group_spawn(g_td_group, &so, &g_td_child);
    close(fds[1]);
    PK(rc);
    int32_t shell;
    PK(pk_child_pid(g_td_child, &shell));
    await_tree(fds[0], (pid_t)shell);

    uint64_t t0 = now_ns();
    int free_rc = pk_group_free(g_td_group);
    double us = us_since(t0);
    g_td_group = NULL;
    PK(free_rc);
    close(fds[0]);
    PK(pk_child_free(g_td_child));
    g_td_child = NULL;

    verify_tree_gone(impl);
    if (c.cgroup_path[0] && access(c.cgroup_path, F_OK) == 0)
        die("teardown %s: the cgroup leaf %s is still there", impl, c.cgroup_path);
    if (record)
        add(s, us);
}

static void td_cgroup(int record)
{
    td_pk(PK_BACKEND_CGROUP_V2, s_td_cg, record);
}

static void td_pgroup(int record)
{
    td_pk(PK_BACKEND_PROCESS_GROUP, s_td_pg, record);
}

typedef struct pgid_scan {
    pid_t pgid;
    int running;
} pgid_scan;

static void find_running_in_pgid(pid_t pid, const proc_stat *st, void *ctx)
{
    (void)pid;
    pgid_scan *scan = ctx;
    if (st->pgrp == scan->pgid && st->state != 'Z' && st->state != 'X')
        scan->running = 1;
}

/* by_pipe = 1, the floor: every member of the tree holds the stdout pipe
 * (inherited from the shell), so the read end reaching end-of-file is the
 * kernel's own signal that the last member has let go of its files while
 * exiting: no polling at all. by_pipe = 0: poll /proc every millisecond
 * for a member of the process group that is not a zombie, as the
 * process-group backend does (it rechecks every 10 ms). Both reap the shell,
 * our child. */
static void td_raw_impl(int record, int by_pipe)
{
    int fds[2];
    make_pipe(fds);
    pid_t pid;
    int rc = spawn_raw(&pid, "/bin/sh", tree_argv, fds[1], 1, 0);
    close(fds[1]);
    if (rc != 0)
        die("posix_spawn /bin/sh: %s", strerror(rc));
    g_raw_tree = pid;
    await_tree(fds[0], pid);

    uint64_t t0 = now_ns();
    if (killpg(pid, SIGKILL) != 0)
        die("killpg %d: %s", (int)pid, strerror(errno));
    if (by_pipe) {
        char buf[256];
        for (;;) {
            ssize_t n = read(fds[0], buf, sizeof buf);
            if (n == 0)
                break;
            if (n < 0 && errno != EINTR)
                die("teardown raw_killpg: read: %s", strerror(errno));
        }
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    } else {
        int shell_reaped = 0;
        for (;;) {
            int status;
            if (!shell_reaped && waitpid(pid, &status, WNOHANG) == pid)
                shell_reaped = 1;
            pgid_scan scan = {pid, 0};
            for_each_process(find_running_in_pgid, &scan);
            if (shell_reaped && !scan.running)
                break;
            struct timespec ts = {0, 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    double us = us_since(t0);
    g_raw_tree = -1;
    close(fds[0]);
    verify_tree_gone(by_pipe ? "raw_killpg" : "raw_killpg_proc");
    if (record)
        add(by_pipe ? s_td_raw : s_td_raw_proc, us);
}

static void td_raw(int record)
{
    td_raw_impl(record, 1);
}

static void td_raw_proc(int record)
{
    td_raw_impl(record, 0);
}

static void scenario_teardown(void)
{
    const char *sc = "teardown_1000";
    s_td_raw = new_series(sc, "raw_killpg", "raw_killpg", "us");
    s_td_raw_proc = new_series(sc, "raw_killpg_proc", "raw_killpg", "us");
    s_td_cg = new_series(sc, "pk_cgroup_v2", "raw_killpg", "us");
    s_td_pg = new_series(sc, "pk_process_group", "raw_killpg", "us");
    snprintf(s_td_raw->extra, sizeof s_td_raw->extra, "killpg + read the tree's stdout pipe to EOF + reap");
    snprintf(s_td_raw_proc->extra, sizeof s_td_raw_proc->extra,
             "killpg + scan /proc every 1 ms until no non-zombie member");
    snprintf(s_td_cg->extra, sizeof s_td_cg->extra, "pk_group_free (cgroup.kill)");
    snprintf(s_td_pg->extra, sizeof s_td_pg->extra, "pk_group_free (killpg)");

    /* The tree's orphans become our zombies, which we reap after each
     * iteration: nothing of a tree survives an iteration, not even a zombie
     * waiting for PID 1 (which on this machine reaps orphans only lazily,
     * seconds later). */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        die("prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));
    g_subreaper = 1;

    impl_fn fns[] = {td_raw, td_raw_proc, td_cgroup, td_pgroup};
    const int n = (int)(sizeof fns / sizeof fns[0]);
    progress("teardown_1000: %d warm-up + %d iterations x %d implementations (each builds a %d-process tree)",
             cfg.teardown_warmup, cfg.teardown_iters, n, TREE_SIZE);
    for (int i = 0; i < cfg.teardown_warmup; i++)
        round_robin(fns, n, i, 0);
    for (int i = 0; i < cfg.teardown_iters; i++)
        round_robin(fns, n, i, 1);

    reap_orphans();
    (void)prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
    g_subreaper = 0;
}

/* ================================================================ wakeups_while_sleeping */

#define EARLY_MS 900 /* `sleep 1` cannot have ended before this */

static series *s_wk_raw, *s_wk_raw_cs, *s_wk_pk, *s_wk_pk_cs, *s_wk_pk_early;
static pk_command *c_sleep;
static double wk_wall_pk_ms, wk_wall_raw_ms;
static int wk_n;

static long thread_vcsw(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) != 0)
        die("getrusage: %s", strerror(errno));
    return ru.ru_nvcsw;
}

static void wk_raw(int record)
{
    static char *const argv[] = {"sleep", "1", NULL};
    uint64_t t0 = now_ns();
    pid_t pid;
    int rc = spawn_raw(&pid, "sleep", argv, -1, 0, 1);
    if (rc != 0)
        die("posix_spawnp sleep: %s", strerror(rc));
    g_raw_child = pid;
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0)
        die("pidfd_open: %s", strerror(errno));
    long cs0 = thread_vcsw();
    int returns = 0;
    for (;;) {
        struct pollfd p = {.fd = pidfd, .events = POLLIN};
        int n = poll(&p, 1, -1);
        returns++;
        if (n > 0 && (p.revents & POLLIN))
            break;
        if (n < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        check_stop();
    }
    long cs = thread_vcsw() - cs0;
    close(pidfd);
    wait_raw_ok(pid, "sleep 1");
    g_raw_child = -1;
    if (record) {
        add(s_wk_raw, returns);
        add(s_wk_raw_cs, (double)cs);
        wk_wall_raw_ms += us_since(t0) / 1000.0;
    }
}

static void wk_pk(int record)
{
    uint64_t t0 = now_ns();
    pk_process *proc;
    PK(pk_loop_start(g_loop, c_sleep, NULL, &proc));
    long cs0 = thread_vcsw();
    int returns = 0, early = 0;
    int32_t done = 0;
    while (!done) {
        PK(pk_loop_run_once(g_loop, -1));
        returns++;
        if (now_ns() - t0 < (uint64_t)EARLY_MS * 1000000u)
            early++;
        PK(pk_process_done(proc, &done));
        check_stop();
    }
    long cs = thread_vcsw() - cs0;
    pk_result *res;
    PK(pk_process_result(proc, &res));
    result_ok(res, "sleep 1");
    PK(pk_result_free(res));
    PK(pk_process_free(proc));
    if (record) {
        add(s_wk_pk, returns);
        add(s_wk_pk_cs, (double)cs);
        add(s_wk_pk_early, early);
        wk_wall_pk_ms += us_since(t0) / 1000.0;
        wk_n++;
    }
}

static void scenario_wakeups(void)
{
    const char *sc = "wakeups_while_sleeping";
    s_wk_raw = new_series(sc, "raw_pidfd_wakeups", "raw_pidfd_wakeups", "count");
    s_wk_pk = new_series(sc, "pk_loop_wakeups", "raw_pidfd_wakeups", "count");
    s_wk_pk_early = new_series(sc, "pk_loop_early_wakeups", "raw_pidfd_wakeups", "count");
    s_wk_raw_cs = new_series(sc, "raw_pidfd_vcsw", "raw_pidfd_vcsw", "count");
    s_wk_pk_cs = new_series(sc, "pk_loop_vcsw", "raw_pidfd_vcsw", "count");

    PK(pk_loop_new(&g_loop));
    PK(pk_command_new("sleep", &c_sleep));
    PK(pk_command_arg(c_sleep, "1"));

    impl_fn fns[] = {wk_raw, wk_pk};
    progress("wakeups_while_sleeping: %d iterations x 2 implementations of `sleep 1`", cfg.wakeup_iters);
    /* Warm-up: one short run through the loop. */
    {
        pk_command *warm;
        PK(pk_command_new("/bin/true", &warm));
        pk_process *proc;
        PK(pk_loop_start(g_loop, warm, NULL, &proc));
        PK(pk_loop_wait_all(g_loop, &proc, 1, 10000));
        PK(pk_process_free(proc));
        PK(pk_command_free(warm));
    }
    for (int i = 0; i < cfg.wakeup_iters; i++)
        round_robin(fns, 2, i, 1);

    PK(pk_loop_free(g_loop));
    g_loop = NULL;
    PK(pk_command_free(c_sleep));

    int n = wk_n ? wk_n : 1;
    snprintf(s_wk_raw->extra, sizeof s_wk_raw->extra, "poll(pidfd) returns; wall %.1f ms", wk_wall_raw_ms / n);
    snprintf(s_wk_pk->extra, sizeof s_wk_pk->extra, "pk_loop_run_once returns until done; wall %.1f ms",
             wk_wall_pk_ms / n);
    snprintf(s_wk_pk_early->extra, sizeof s_wk_pk_early->extra, "returns in the first %d ms (child asleep)",
             EARLY_MS);
    snprintf(s_wk_raw_cs->extra, sizeof s_wk_raw_cs->extra, "voluntary ctx switches, RUSAGE_THREAD");
    snprintf(s_wk_pk_cs->extra, sizeof s_wk_pk_cs->extra, "voluntary ctx switches, RUSAGE_THREAD");
}

/* ================================================================ private_group_cost */

/* Diagnostic: what a private group costs by itself, to attribute pk_run's
 * overhead over pk_group_spawn (no process is started here). */
static char g_cg_dir[4096];
static unsigned g_leaf_seq;
static series *s_pg_mkdir, *s_pg_kill, *s_pg_group, *s_pg_noguard, *s_pg_loop;

static void raw_leaf(int record, int write_kill)
{
    snprintf(g_raw_leaf, sizeof g_raw_leaf, "%s/compare-%d-%u", g_cg_dir, (int)getpid(), g_leaf_seq++);
    uint64_t t0 = now_ns();
    if (mkdir(g_raw_leaf, 0755) != 0)
        die("mkdir %s: %s", g_raw_leaf, strerror(errno));
    if (write_kill) {
        char path[4300];
        snprintf(path, sizeof path, "%s/cgroup.kill", g_raw_leaf);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "1", 1) != 1)
            die("writing %s: %s", path, strerror(errno));
        close(fd);
    }
    if (rmdir(g_raw_leaf) != 0)
        die("rmdir %s: %s", g_raw_leaf, strerror(errno));
    double us = us_since(t0);
    g_raw_leaf[0] = '\0';
    if (record)
        add(write_kill ? s_pg_kill : s_pg_mkdir, us);
}

static void pg_mkdir(int record)
{
    raw_leaf(record, 0);
}

static void pg_kill(int record)
{
    raw_leaf(record, 1);
}

static void pg_group_with(uint32_t flags, series *s, int record)
{
    uint64_t t0 = now_ns();
    pk_group_options go = PK_GROUP_OPTIONS_INIT;
    go.flags = flags;
    PK(pk_group_create(&go, &g_td_group));
    int rc = pk_group_free(g_td_group);
    g_td_group = NULL;
    PK(rc);
    if (record)
        add(s, us_since(t0));
}

static void pg_group(int record)
{
    pg_group_with(0, s_pg_group, record);
}

static void pg_noguard(int record)
{
    pg_group_with(PK_GROUP_NO_OWNER_DEATH_KILL, s_pg_noguard, record);
}

static void pg_loop(int record)
{
    uint64_t t0 = now_ns();
    PK(pk_loop_new(&g_loop));
    int rc = pk_loop_free(g_loop);
    g_loop = NULL;
    PK(rc);
    if (record)
        add(s_pg_loop, us_since(t0));
}

static void scenario_private_group(void)
{
    pk_containment probe = PK_CONTAINMENT_INIT;
    PK(pk_host_probe(PK_BACKEND_AUTO, &probe));
    if (probe.mechanism != PK_MECHANISM_CGROUP_V2 || own_cgroup_dir(g_cg_dir, sizeof g_cg_dir) != 0) {
        progress("private_group_cost: skipped (no cgroup v2 here: %s)", probe.reason);
        return;
    }
    const char *sc = "private_group_cost";
    s_pg_mkdir = new_series(sc, "raw_mkdir_rmdir", "raw_mkdir_rmdir", "us");
    s_pg_kill = new_series(sc, "raw_mkdir_kill_rmdir", "raw_mkdir_rmdir", "us");
    s_pg_group = new_series(sc, "pk_group_create_free", "raw_mkdir_rmdir", "us");
    s_pg_noguard = new_series(sc, "pk_group_noguard", "raw_mkdir_rmdir", "us");
    s_pg_loop = new_series(sc, "pk_loop_new_free", "raw_mkdir_rmdir", "us");
    snprintf(s_pg_mkdir->extra, sizeof s_pg_mkdir->extra, "diagnostic: an empty cgroup leaf made and removed");
    snprintf(s_pg_kill->extra, sizeof s_pg_kill->extra, "the same with cgroup.kill written in between");
    snprintf(s_pg_group->extra, sizeof s_pg_group->extra, "an empty pk group (cgroup-v2) created and freed");
    snprintf(s_pg_noguard->extra, sizeof s_pg_noguard->extra, "the same with PK_GROUP_NO_OWNER_DEATH_KILL");
    snprintf(s_pg_loop->extra, sizeof s_pg_loop->extra, "a pk_loop created and freed (pk_command_run makes one)");

    impl_fn fns[] = {pg_mkdir, pg_kill, pg_group, pg_noguard, pg_loop};
    const int n = (int)(sizeof fns / sizeof fns[0]);
    progress("private_group_cost: %d warm-up + %d iterations x %d implementations", cfg.spawn_warmup,
             cfg.spawn_iters, n);
    for (int i = 0; i < cfg.spawn_warmup; i++)
        round_robin(fns, n, i, 0);
    for (int i = 0; i < cfg.spawn_iters; i++)
        round_robin(fns, n, i, 1);
}

/* ================================================================ leftovers */

typedef struct leftover_ctx {
    pid_t self;
    size_t count;
} leftover_ctx;

static void count_children(pid_t pid, const proc_stat *st, void *ctx)
{
    leftover_ctx *c = ctx;
    if (st->ppid == c->self && pid != c->self && strcmp(st->comm, "pk-keeper") == 0 && st->state != 'Z') {
        /* processkit's owner-death keeper: one per process, it sleeps in
         * read() and exits when this process does. Not a leftover. */
        if (!cfg.json)
            fprintf(stderr, "compare: processkit's keeper process %d is running (it exits with this process)\n",
                    (int)pid);
        return;
    }
    if (st->ppid == c->self && pid != c->self) {
        fprintf(stderr, "compare: leftover child %d (%s, state %c)\n", (int)pid, st->comm, st->state);
        c->count++;
    }
}

/* Our own cgroup v2 directory, from the probe's mount and /proc/self/cgroup. */
static int own_cgroup_dir(char *out, size_t len)
{
    pk_containment probe = PK_CONTAINMENT_INIT;
    if (pk_host_probe(PK_BACKEND_CGROUP_V2, &probe) != PK_OK || !probe.cgroup_mount[0])
        return -1;
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return -1;
    char line[4096], rel[4096] = "";
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "0::", 3) == 0) {
            snprintf(rel, sizeof rel, "%s", line + 3);
            rel[strcspn(rel, "\n")] = '\0';
        }
    fclose(f);
    if (!rel[0])
        return -1;
    snprintf(out, len, "%s%s", probe.cgroup_mount, strcmp(rel, "/") == 0 ? "" : rel);
    return 0;
}

/* Counts processes still our children and cgroup leaves named after our pid. */
static size_t check_leftovers(void)
{
    leftover_ctx c = {getpid(), 0};
    for_each_process(count_children, &c);
    char dir[4096];
    if (own_cgroup_dir(dir, sizeof dir) == 0) {
        char prefix[64], ours[64];
        snprintf(prefix, sizeof prefix, "processkit-%d-", (int)getpid());
        snprintf(ours, sizeof ours, "compare-%d-", (int)getpid());
        DIR *d = opendir(dir);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL)
                if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 || strncmp(e->d_name, ours, strlen(ours)) == 0) {
                    fprintf(stderr, "compare: leftover cgroup %s/%s\n", dir, e->d_name);
                    c.count++;
                }
            closedir(d);
        }
    }
    return c.count;
}

/* ================================================================ output */

static void read_cpu_model(char *out, size_t len)
{
    snprintf(out, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon) {
                colon++;
                while (*colon == ' ' || *colon == '\t')
                    colon++;
                colon[strcspn(colon, "\n")] = '\0';
                snprintf(out, len, "%s", colon);
            }
            break;
        }
    }
    fclose(f);
}

static void read_loadavg(char *out, size_t len)
{
    snprintf(out, len, "?");
    FILE *f = fopen("/proc/loadavg", "re");
    if (!f)
        return;
    double a, b, c;
    if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
        snprintf(out, len, "%.2f %.2f %.2f", a, b, c);
    fclose(f);
}

static void print_header(FILE *out)
{
    struct utsname u;
    uname(&u);
    char cpu[256], date[64];
    read_cpu_model(cpu, sizeof cpu);
    time_t t = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
    pk_containment probe = PK_CONTAINMENT_INIT;
    (void)pk_host_probe(PK_BACKEND_AUTO, &probe);
    fprintf(out, "processkit %s benchmark  (%s)\n", pk_version_string(), date);
    const char *ws = getenv("BUILD_WORKSPACE_DIRECTORY"); /* set by `bazel run` */
    if (ws && !strchr(ws, '\'')) {
        char cmd[4200], rev[128] = "";
        snprintf(cmd, sizeof cmd, "git -C '%s' describe --always --dirty 2>/dev/null", ws);
        FILE *p = popen(cmd, "r");
        if (p) {
            if (fgets(rev, sizeof rev, p))
                rev[strcspn(rev, "\n")] = '\0';
            pclose(p);
        }
        if (rev[0])
            fprintf(out, "source: %s at %s\n", ws, rev);
    }
    fprintf(out, "machine: %ld CPUs (nproc), %s, kernel %s %s %s\n", sysconf(_SC_NPROCESSORS_ONLN), cpu, u.sysname,
            u.release, u.machine);
    char load[64];
    read_loadavg(load, sizeof load);
    fprintf(out, "load average at start: %s (other work on the machine shows up here)\n", load);
    fprintf(out, "containment: %s (cgroup2 at %s)\n", pk_mechanism_name(probe.mechanism),
            probe.cgroup_mount[0] ? probe.cgroup_mount : "-");
#if defined(__OPTIMIZE__)
    fprintf(out, "build: optimized\n");
#else
    fprintf(out, "build: not optimized (Bazel fastbuild; add -c opt for an optimized build)\n");
#endif
    fprintf(out, "mode: %s; spawn %d iterations, capture %d, teardown %d, wakeups %d (warm-up %d/%d/%d)\n\n",
            cfg.quick ? "--quick" : "full", cfg.spawn_iters, cfg.capture_iters, cfg.teardown_iters, cfg.wakeup_iters,
            cfg.spawn_warmup, cfg.capture_warmup, cfg.teardown_warmup);
}

static void print_table(void)
{
    printf("%-24s %-22s %12s %12s %6s %7s  %s\n", "scenario", "impl", "median", "p90", "unit", "ratio", "notes");
    const char *last = "";
    for (size_t i = 0; i < series_count; i++) {
        series *s = &all_series[i];
        if (strcmp(last, s->scenario) != 0 && i)
            putchar('\n');
        last = s->scenario;
        int count = strcmp(s->unit, "count") == 0;
        double r = ratio_of(s);
        char ratio[32];
        if (isnan(r))
            snprintf(ratio, sizeof ratio, "-");
        else
            snprintf(ratio, sizeof ratio, "%.3f", r);
        printf("%-24s %-22s %12.1f %12.1f %6s %7s  %s", s->scenario, s->impl, median(s), percentile(s, 90),
               count ? "count" : "us", ratio, s->extra);
        if (strcmp(s->impl, s->floor) == 0)
            printf("%s(floor)", s->extra[0] ? " " : "");
        putchar('\n');
    }
}

static void print_json(void)
{
    for (size_t i = 0; i < series_count; i++) {
        series *s = &all_series[i];
        double r = ratio_of(s);
        printf("{\"scenario\": \"%s\", \"impl\": \"%s\", \"median_us\": %.3f, \"p90_us\": %.3f, \"ratio_to_raw\": ",
               s->scenario, s->impl, median(s), percentile(s, 90));
        if (isnan(r))
            printf("null}\n");
        else
            printf("%.4f}\n", r);
    }
}

/* ================================================================ main */


static void usage(FILE *out)
{
    fputs("usage: compare [--json] [--quick] [--only SCENARIO-PREFIX]\n"
          "  --json   one JSON object per line: scenario, impl, median_us, p90_us, ratio_to_raw\n"
          "           (for wakeups_while_sleeping median_us/p90_us are counts, not microseconds)\n"
          "  --quick  fewer iterations (well under a minute)\n"
          "  --only P run only the scenarios whose name starts with P (spawn, private, capture,\n"
          "           teardown, wakeups)\n",
          out);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            cfg.json = 1;
        else if (strcmp(argv[i], "--quick") == 0)
            cfg.quick = 1;
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            cfg.only = argv[++i];
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (cfg.quick) {
        cfg.spawn_iters = 100, cfg.spawn_warmup = 10;
        cfg.capture_iters = 2, cfg.capture_warmup = 1;
        cfg.teardown_iters = 1, cfg.teardown_warmup = 0;
        cfg.wakeup_iters = 1;
    } else {
        cfg.spawn_iters = 2000, cfg.spawn_warmup = 100;
        cfg.capture_iters = 7, cfg.capture_warmup = 1;
        cfg.teardown_iters = 5, cfg.teardown_warmup = 1;
        cfg.wakeup_iters = 3;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: blocking waits return EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    if (!cfg.json)
        print_header(stdout);
    else
        print_header(stderr);
    fflush(stdout);

    size_t before = check_leftovers();
    if (before)
        die("%zu leftovers of this process before the run (see above)", before);

    uint64_t t0 = now_ns();
    if (wanted("spawn_wait_true"))
        scenario_spawn();
    if (wanted("private_group_cost"))
        scenario_private_group();
    if (wanted("capture_256MiB"))
        scenario_capture();
    if (wanted("teardown_1000"))
        scenario_teardown();
    if (wanted("wakeups_while_sleeping"))
        scenario_wakeups();
    char load[64];
    read_loadavg(load, sizeof load);
    progress("done in %.1f s; load average now %s", (double)(now_ns() - t0) / 1e9, load);

    size_t left = check_leftovers();
    if (left)
        die("%zu processes or cgroup leaves left behind (see above)", left);

    if (cfg.json)
        print_json();
    else
        print_table();
    return 0;
}
