/* pk_driver: the peer benchmarks' C driver for processkit itself
 * (impl processkit_c) and for the raw floor (impl raw).
 *
 *   pk_driver --impl raw|processkit_c --scenario NAME --iterations N [--warmup K]
 *
 * Protocol and scenarios: peer_common.h. The floor is what the kernel and
 * libc give with no library: posix_spawn + waitpid; for captures a read()
 * loop over the pipe with a 64 KiB buffer (the data is discarded for
 * capture_*, kept in per-child buffers for concurrent_*); killpg for the
 * teardown. processkit_c uses the run-and-capture API (pk_command_run,
 * pk_loop_start: a private group per run, the library's default) and the
 * group API for the teardown (pk_group_kill).
 *
 * Diagnostic variants (not in the default report; run_peers.sh
 * --diagnostics adds them) attribute processkit_c's overhead:
 *   raw_keep              raw, but capture_* keeps every byte in a buffer
 *                         grown by doubling (the floor of any capture API)
 *   processkit_c_noguard  the same calls with PK_GROUP_NO_OWNER_DEATH_KILL
 *                         (no owner-death keeper bookkeeping per group)
 *   processkit_c_group    one long-lived pk_loop and one shared pk_group for
 *                         every run (pk_loop_start(loop, cmd, group)): no
 *                         private group, no cgroup leaf per run */
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>

#include "peer_common.h"
#include "processkit.h"

extern char **environ;

#define CHUNK (64 * 1024)

static peer_args args;

#define PK(call)                                                                                                 \
    do {                                                                                                         \
        int pk_rc_ = (call);                                                                                     \
        if (pk_rc_ != PK_OK)                                                                                     \
            peer_die("%s failed: %s (%d): %s", #call, pk_strerror(pk_rc_), pk_rc_, pk_last_error());             \
    } while (0)

/* ---------------------------------------------------------------- raw */

static pid_t raw_spawn(const char *prog, char *const argv[], int stdout_fd, int own_pgroup)
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
    pid_t pid;
    int rc = posix_spawnp(&pid, prog, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        peer_die("posix_spawnp %s: %s", prog, strerror(rc));
    return pid;
}

static void raw_wait_ok(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            peer_die("waitpid %d: %s", (int)pid, strerror(errno));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        peer_die("child %d ended with status 0x%x", (int)pid, status);
}

static void raw_spawn_wait(void)
{
    static char *const argv[] = {"/bin/true", NULL};
    raw_wait_ok(raw_spawn("/bin/true", argv, -1, 0));
}

static int g_keep; /* raw_keep: captures keep every byte */

static void raw_capture(unsigned long long bytes)
{
    static char buf[CHUNK];
    char *kept = NULL;
    size_t alloc = 0;
    char count[32];
    snprintf(count, sizeof count, "%llu", bytes);
    char *const argv[] = {"head", "-c", count, "/dev/zero", NULL};
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        peer_die("pipe2: %s", strerror(errno));
    pid_t pid = raw_spawn("head", argv, fds[1], 0);
    close(fds[1]);
    unsigned long long total = 0;
    for (;;) {
        char *dst = buf;
        size_t room = sizeof buf;
        if (g_keep) { /* a buffer grown by doubling from 64 KiB, as a capture must */
            if (total + CHUNK > alloc) {
                size_t grown_to = alloc ? alloc : CHUNK;
                while (grown_to < total + CHUNK)
                    grown_to *= 2;
                char *grown = realloc(kept, grown_to);
                if (!grown)
                    peer_die("out of memory");
                kept = grown;
                alloc = grown_to;
            }
            dst = kept + total;
            room = alloc - (size_t)total;
        }
        ssize_t n = read(fds[0], dst, room);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            peer_die("read: %s", strerror(errno));
        }
        total += (unsigned long long)n;
    }
    close(fds[0]);
    raw_wait_ok(pid);
    free(kept);
    if (total != bytes)
        peer_die("raw capture: %llu bytes, expected %llu", total, bytes);
}

static void raw_concurrent(int n)
{
    static char *const argv[] = {"seq", "1000", NULL};
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    struct pollfd *pfd = calloc((size_t)n, sizeof *pfd);
    char **bufs = calloc((size_t)n, sizeof *bufs);
    size_t *lens = calloc((size_t)n, sizeof *lens);
    if (!pids || !pfd || !bufs || !lens)
        peer_die("out of memory");
    for (int i = 0; i < n; i++) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0)
            peer_die("pipe2: %s", strerror(errno));
        pids[i] = raw_spawn("seq", argv, fds[1], 0);
        close(fds[1]);
        pfd[i].fd = fds[0];
        pfd[i].events = POLLIN;
        bufs[i] = malloc(CHUNK);
        if (!bufs[i])
            peer_die("out of memory");
    }
    int open_fds = n;
    while (open_fds > 0) {
        if (poll(pfd, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            peer_die("poll: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            if (pfd[i].fd < 0 || !pfd[i].revents)
                continue;
            ssize_t r = read(pfd[i].fd, bufs[i] + lens[i], CHUNK - lens[i]);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                peer_die("read: %s", strerror(errno));
            if (r == 0 || lens[i] + (size_t)r == CHUNK) {
                lens[i] += (size_t)r;
                close(pfd[i].fd);
                pfd[i].fd = -1;
                open_fds--;
            } else {
                lens[i] += (size_t)r;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        raw_wait_ok(pids[i]);
        if (lens[i] != SEQ_BYTES)
            peer_die("raw concurrent: child %d gave %zu bytes, expected %llu", i, lens[i], SEQ_BYTES);
        free(bufs[i]);
    }
    free(pids);
    free(pfd);
    free(bufs);
    free(lens);
}

static pid_t g_raw_tree = -1;

static double raw_teardown(void)
{
    char *const argv[] = {"sh", "-c", (char *)TREE_SCRIPT, NULL};
    pid_t shell = raw_spawn("/bin/sh", argv, -1, 1);
    g_raw_tree = shell;
    peer_await_tree(shell);
    uint64_t t0 = peer_now_ns();
    if (killpg(shell, SIGKILL) != 0)
        peer_die("killpg %d: %s", (int)shell, strerror(errno));
    int status;
    while (waitpid(shell, &status, 0) < 0 && errno == EINTR) {
    }
    peer_wait_tree_gone();
    double us = peer_us_since(t0);
    g_raw_tree = -1;
    peer_reap_orphans();
    return us;
}

static pid_t g_rss_pids[RSS_CHILDREN];
static int g_rss_n;

static void raw_rss_kill(void)
{
    for (int i = 0; i < g_rss_n; i++)
        kill(g_rss_pids[i], SIGKILL);
    for (int i = 0; i < g_rss_n; i++)
        waitpid(g_rss_pids[i], NULL, 0);
    g_rss_n = 0;
}

static double raw_rss(void)
{
    static char *const argv[] = {"sleep", "30", NULL};
    long before = peer_vmrss_kib();
    for (int i = 0; i < RSS_CHILDREN; i++) {
        g_rss_pids[i] = raw_spawn("sleep", argv, -1, 0);
        g_rss_n = i + 1;
    }
    long after = peer_vmrss_kib();
    raw_rss_kill();
    return (double)(after - before) / RSS_CHILDREN;
}

static void raw_cleanup(void)
{
    if (g_raw_tree > 0) {
        killpg(g_raw_tree, SIGKILL);
        waitpid(g_raw_tree, NULL, 0);
        g_raw_tree = -1;
    }
    raw_rss_kill();
}

/* ---------------------------------------------------------------- processkit_c */

static pk_command *c_true, *c_small, *c_big, *c_seq, *c_sleep;
static pk_loop *g_loop;
static pk_group *g_shared; /* processkit_c_group: every run's group */
static int g_noguard;      /* processkit_c_noguard */
static pk_group *g_td_group;
static pk_child *g_td_child;
static pk_process *g_procs[256];
static int g_nprocs;

static void pk_cleanup(void)
{
    for (int i = 0; i < g_nprocs; i++)
        if (g_procs[i])
            pk_process_free(g_procs[i]);
    g_nprocs = 0;
    if (g_td_group) {
        pk_group_free(g_td_group);
        g_td_group = NULL;
    }
    if (g_td_child) {
        pk_child_free(g_td_child);
        g_td_child = NULL;
    }
    if (g_loop) {
        pk_loop_free(g_loop);
        g_loop = NULL;
    }
    if (g_shared) {
        pk_group_free(g_shared);
        g_shared = NULL;
    }
}

static pk_command *pk_cmd(const char *prog, const char *a1, const char *a2, const char *a3, int null_output)
{
    pk_command *c;
    PK(pk_command_new(prog, &c));
    const char *extra[] = {a1, a2, a3};
    for (int i = 0; i < 3 && extra[i]; i++)
        PK(pk_command_arg(c, extra[i]));
    if (null_output) {
        PK(pk_command_output(c, PK_STREAM_STDOUT, PK_OUTPUT_NULL, -1));
        PK(pk_command_output(c, PK_STREAM_STDERR, PK_OUTPUT_NULL, -1));
    } else {
        PK(pk_command_output_limit(c, PK_STREAM_STDOUT, 0, PK_OVERFLOW_KEEP_HEAD)); /* no cap */
    }
    if (g_noguard) {
        pk_group_options go = PK_GROUP_OPTIONS_INIT;
        go.flags = PK_GROUP_NO_OWNER_DEATH_KILL;
        PK(pk_command_group_options(c, &go));
    }
    return c;
}

static void pk_check_result(pk_result *res, unsigned long long expect_bytes)
{
    pk_run_info info = PK_RUN_INFO_INIT;
    PK(pk_result_info(res, &info));
    if (!info.success) {
        int rc = pk_result_check(res);
        peer_die("processkit_c: run failed: %s: %s", pk_strerror(rc), pk_last_error());
    }
    if (expect_bytes != (unsigned long long)-1) {
        const uint8_t *data;
        size_t len;
        PK(pk_result_output(res, PK_STREAM_STDOUT, &data, &len));
        if (len != expect_bytes)
            peer_die("processkit_c: captured %zu bytes, expected %llu", len, expect_bytes);
    }
}

static void pk_run_once(pk_command *cmd, unsigned long long expect_bytes)
{
    pk_result *res;
    if (g_shared) {
        pk_process *p;
        PK(pk_loop_start(g_loop, cmd, g_shared, &p));
        PK(pk_loop_wait_all(g_loop, &p, 1, -1));
        PK(pk_process_result(p, &res));
        PK(pk_process_free(p));
    } else {
        PK(pk_command_run(cmd, &res));
    }
    pk_check_result(res, expect_bytes);
    PK(pk_result_free(res));
}

static void pk_concurrent(int n)
{
    for (int i = 0; i < n; i++) {
        PK(pk_loop_start(g_loop, c_seq, g_shared, &g_procs[i]));
        g_nprocs = i + 1;
    }
    PK(pk_loop_wait_all(g_loop, g_procs, (size_t)n, -1));
    for (int i = 0; i < n; i++) {
        pk_result *res;
        PK(pk_process_result(g_procs[i], &res));
        pk_check_result(res, SEQ_BYTES);
        PK(pk_result_free(res));
        PK(pk_process_free(g_procs[i]));
        g_procs[i] = NULL;
    }
    g_nprocs = 0;
}

static double pk_teardown(void)
{
    pk_group_options go = PK_GROUP_OPTIONS_INIT;
    if (g_noguard)
        go.flags = PK_GROUP_NO_OWNER_DEATH_KILL;
    PK(pk_group_create(&go, &g_td_group));
    pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
    const char *argv[] = {"sh", "-c", TREE_SCRIPT, NULL};
    so.program = "/bin/sh";
    so.argv = argv;
    so.stdout_fd = PK_STDIO_NULL;
    PK(pk_group_spawn(g_td_group, &so, &g_td_child));
    int32_t shell;
    PK(pk_child_pid(g_td_child, &shell));
    peer_await_tree((pid_t)shell);
    uint64_t t0 = peer_now_ns();
    PK(pk_group_kill(g_td_group));
    peer_wait_tree_gone();
    double us = peer_us_since(t0);
    PK(pk_group_free(g_td_group));
    g_td_group = NULL;
    PK(pk_child_free(g_td_child));
    g_td_child = NULL;
    peer_reap_orphans();
    return us;
}

static double pk_rss(void)
{
    long before = peer_vmrss_kib();
    for (int i = 0; i < RSS_CHILDREN; i++) {
        PK(pk_loop_start(g_loop, c_sleep, g_shared, &g_procs[i]));
        g_nprocs = i + 1;
    }
    long after = peer_vmrss_kib();
    for (int i = 0; i < RSS_CHILDREN; i++) {
        PK(pk_process_free(g_procs[i])); /* cancels: kills the tree and reaps */
        g_procs[i] = NULL;
    }
    g_nprocs = 0;
    return (double)(after - before) / RSS_CHILDREN;
}

static void pk_note_mechanism(void)
{
    pk_containment c = PK_CONTAINMENT_INIT;
    PK(pk_host_probe(PK_BACKEND_AUTO, &c));
    char note[512];
    snprintf(note, sizeof note, "processkit %s, mechanism %s%s%s", pk_version_string(), pk_mechanism_name(c.mechanism),
             c.reason[0] ? ": " : "", c.reason);
    peer_emit_text(&args, "note", note);
}

/* ---------------------------------------------------------------- main */

static void cleanup_all(void)
{
    raw_cleanup();
    pk_cleanup();
}

static void on_signal(int sig)
{
    (void)sig;
    cleanup_all();
    _exit(130);
}

int main(int argc, char **argv)
{
    peer_parse_args(argc, argv, &args);
    peer_cleanup_hook = cleanup_all;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    g_keep = strcmp(args.impl, "raw_keep") == 0;
    int raw = g_keep || strcmp(args.impl, "raw") == 0;
    int shared = strcmp(args.impl, "processkit_c_group") == 0;
    g_noguard = strcmp(args.impl, "processkit_c_noguard") == 0;
    if (!raw && !shared && !g_noguard && strcmp(args.impl, "processkit_c") != 0)
        peer_die("unknown impl %s (this driver has raw, raw_keep, processkit_c, processkit_c_noguard, processkit_c_group)",
                 args.impl);
    const char *sc = args.scenario;
    int is_spawn = !strcmp(sc, "spawn_wait_true"), is_small = !strcmp(sc, "capture_small"),
        is_big = !strcmp(sc, "capture_256MiB"), is_c16 = !strcmp(sc, "concurrent_16"),
        is_c256 = !strcmp(sc, "concurrent_256"), is_td = !strcmp(sc, "teardown_1000"),
        is_rss = !strcmp(sc, "rss_per_child");
    if (!(is_spawn || is_small || is_big || is_c16 || is_c256 || is_td || is_rss))
        peer_die("unknown scenario %s", sc);

    if (!raw) {
        pk_note_mechanism();
        c_true = pk_cmd("/bin/true", NULL, NULL, NULL, 1);
        c_small = pk_cmd("head", "-c", "1024", "/dev/zero", 0);
        c_big = pk_cmd("head", "-c", "268435456", "/dev/zero", 0);
        c_seq = pk_cmd("seq", "1000", NULL, NULL, 0);
        c_sleep = pk_cmd("sleep", "30", NULL, NULL, 1);
        PK(pk_loop_new(&g_loop));
        if (shared) {
            pk_group_options go = PK_GROUP_OPTIONS_INIT;
            PK(pk_group_create(&go, &g_shared));
        }
    }
    if (is_td)
        peer_become_subreaper();

    /* rss_per_child: warm-up spawns /bin/true (runtime and allocator
     * initialised, as in every driver); the measured iteration then starts
     * the 100 children. Only a process's first measured iteration is a clean
     * sample (later ones reuse freed memory), so the orchestrator runs it
     * with --iterations 1. */
    int total = args.warmup + args.iterations;
    for (int i = 0; i < total; i++) {
        int record = i >= args.warmup;
        double us = 0;
        uint64_t t0 = peer_now_ns();
        if (is_rss && !record) {
            if (raw)
                raw_spawn_wait();
            else {
                pk_process *p;
                PK(pk_loop_start(g_loop, c_true, g_shared, &p));
                PK(pk_loop_wait_all(g_loop, &p, 1, -1));
                PK(pk_process_free(p));
            }
            continue;
        }
        if (is_spawn)
            raw ? raw_spawn_wait() : pk_run_once(c_true, (unsigned long long)-1);
        else if (is_small)
            raw ? raw_capture(SMALL_BYTES) : pk_run_once(c_small, SMALL_BYTES);
        else if (is_big)
            raw ? raw_capture(BIG_BYTES) : pk_run_once(c_big, BIG_BYTES);
        else if (is_c16 || is_c256)
            raw ? raw_concurrent(is_c16 ? 16 : 256) : pk_concurrent(is_c16 ? 16 : 256);
        us = peer_us_since(t0);
        if (is_td)
            us = raw ? raw_teardown() : pk_teardown();
        if (is_rss) {
            double kib = raw ? raw_rss() : pk_rss();
            if (record)
                peer_emit(&args, kib, "KiB");
            continue;
        }
        if (record)
            peer_emit(&args, us, "us");
    }

    if (!raw) {
        pk_command *cs[] = {c_true, c_small, c_big, c_seq, c_sleep};
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
            PK(pk_command_free(cs[i]));
        PK(pk_loop_free(g_loop));
        g_loop = NULL;
        if (g_shared) {
            PK(pk_group_free(g_shared));
            g_shared = NULL;
        }
    }
    if (is_td)
        peer_reap_orphans();
    return 0;
}
