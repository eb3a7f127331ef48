/* c_peers_driver: the peer benchmarks' C driver for libuv (uv_spawn) and
 * GLib (GSubprocess), both from Debian (libuv1-dev, libglib2.0-dev).
 *
 *   c_peers_driver --impl libuv|glib --scenario NAME --iterations N [--warmup K]
 *
 * Protocol and scenarios: peer_common.h. Each library is used the way its
 * documentation shows:
 *   libuv: one uv_default_loop(); uv_spawn with stdio ignored (spawn, rss) or
 *          a UV_CREATE_PIPE stdout read with uv_read_start into a buffer grown
 *          by doubling (captures); uv_run until every handle is closed.
 *   glib:  g_subprocess_newv + g_subprocess_wait_check (spawn),
 *          g_subprocess_communicate (captures), g_subprocess_communicate_async
 *          on one GMainContext for the concurrent runs, g_subprocess_force_exit
 *          for the rss children.
 * Neither has a process-group or tree kill (uv_process_kill / uv_kill and
 * g_subprocess_send_signal / force_exit reach one pid), so teardown_1000 is
 * reported as unsupported rather than measured.
 *
 * Built by bench/peers/run_peers.sh with gcc -O2 and pkg-config (not Bazel:
 * the build does not depend on these system libraries). */
#include <gio/gio.h>
#include <uv.h>

#include "peer_common.h"

static peer_args args;

/* ---------------------------------------------------------------- libuv */

typedef struct uv_run_ctx {
    uv_process_t proc;
    uv_pipe_t out;
    char *buf;
    size_t len, cap;
    int exited, exit_status, term_signal;
    int open_handles;
    int capture;
} uv_run_ctx;

static uv_loop_t *uvl;

static void uv_closed(uv_handle_t *h)
{
    uv_run_ctx *c = h->data;
    c->open_handles--;
}

static void uv_on_exit(uv_process_t *p, int64_t status, int sig)
{
    uv_run_ctx *c = p->data;
    c->exited = 1;
    c->exit_status = (int)status;
    c->term_signal = sig;
    uv_close((uv_handle_t *)p, uv_closed);
}

static void uv_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    uv_run_ctx *c = h->data;
    if (suggested < 64 * 1024)
        suggested = 64 * 1024;
    if (c->len + suggested > c->cap) {
        size_t cap = c->cap ? c->cap : 64 * 1024;
        while (cap < c->len + suggested)
            cap *= 2;
        char *grown = realloc(c->buf, cap);
        if (!grown)
            peer_die("out of memory");
        c->buf = grown;
        c->cap = cap;
    }
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void uv_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    uv_run_ctx *c = s->data;
    if (n > 0) {
        c->len += (size_t)n;
    } else if (n < 0) {
        if (n != UV_EOF)
            peer_die("libuv read: %s", uv_strerror((int)n));
        uv_close((uv_handle_t *)s, uv_closed);
    }
}

/* Starts one child; capture = read its stdout into c->buf. */
static void uv_start(uv_run_ctx *c, char **argv, int capture)
{
    memset(c, 0, sizeof *c);
    c->capture = capture;
    uv_process_options_t o;
    memset(&o, 0, sizeof o);
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_IGNORE;
    stdio[2].flags = UV_IGNORE;
    if (capture) {
        uv_pipe_init(uvl, &c->out, 0);
        c->out.data = c;
        c->open_handles++;
        stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        stdio[1].data.stream = (uv_stream_t *)&c->out;
    }
    o.file = argv[0];
    o.args = argv;
    o.exit_cb = uv_on_exit;
    o.stdio = stdio;
    o.stdio_count = 3;
    c->proc.data = c;
    int rc = uv_spawn(uvl, &c->proc, &o);
    if (rc != 0)
        peer_die("uv_spawn %s: %s", argv[0], uv_strerror(rc));
    c->open_handles++;
    if (capture) {
        rc = uv_read_start((uv_stream_t *)&c->out, uv_alloc, uv_on_read);
        if (rc != 0)
            peer_die("uv_read_start: %s", uv_strerror(rc));
    }
}

static void uv_check(uv_run_ctx *c, unsigned long long expect)
{
    if (!c->exited || c->exit_status != 0 || c->term_signal != 0)
        peer_die("libuv: child ended with status %d signal %d", c->exit_status, c->term_signal);
    if (c->capture && c->len != expect)
        peer_die("libuv: captured %zu bytes, expected %llu", c->len, expect);
    free(c->buf);
    c->buf = NULL;
}

static void uv_runs(int n, char **argv, int capture, unsigned long long expect)
{
    static uv_run_ctx ctx[256];
    for (int i = 0; i < n; i++)
        uv_start(&ctx[i], argv, capture);
    uv_run(uvl, UV_RUN_DEFAULT);
    for (int i = 0; i < n; i++)
        uv_check(&ctx[i], expect);
}

static uv_run_ctx uv_rss_ctx[RSS_CHILDREN];
static int uv_rss_n;

static void uv_rss_kill(void)
{
    for (int i = 0; i < uv_rss_n; i++)
        if (!uv_rss_ctx[i].exited)
            uv_process_kill(&uv_rss_ctx[i].proc, SIGKILL);
    if (uv_rss_n)
        uv_run(uvl, UV_RUN_DEFAULT);
    uv_rss_n = 0;
}

static double uv_rss(void)
{
    static char *argv[] = {"sleep", "30", NULL};
    long before = peer_vmrss_kib();
    for (int i = 0; i < RSS_CHILDREN; i++) {
        uv_start(&uv_rss_ctx[i], argv, 0);
        uv_rss_n = i + 1;
    }
    long after = peer_vmrss_kib();
    uv_rss_kill();
    return (double)(after - before) / RSS_CHILDREN;
}

/* ---------------------------------------------------------------- glib */

static void g_fail(const char *what, GError *err)
{
    peer_die("%s: %s", what, err ? err->message : "(no message)");
}

static void glib_spawn_wait(void)
{
    const gchar *argv[] = {"/bin/true", NULL};
    GError *err = NULL;
    GSubprocess *sp = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_NONE, &err);
    if (!sp)
        g_fail("g_subprocess_newv", err);
    if (!g_subprocess_wait_check(sp, NULL, &err))
        g_fail("g_subprocess_wait_check", err);
    g_object_unref(sp);
}

static void glib_capture(unsigned long long bytes)
{
    char count[32];
    snprintf(count, sizeof count, "%llu", bytes);
    const gchar *argv[] = {"head", "-c", count, "/dev/zero", NULL};
    GError *err = NULL;
    GSubprocess *sp = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &err);
    if (!sp)
        g_fail("g_subprocess_newv", err);
    GBytes *out = NULL;
    if (!g_subprocess_communicate(sp, NULL, NULL, &out, NULL, &err))
        g_fail("g_subprocess_communicate", err);
    if (!g_subprocess_get_if_exited(sp) || g_subprocess_get_exit_status(sp) != 0)
        peer_die("glib: head failed");
    gsize len = out ? g_bytes_get_size(out) : 0;
    if (len != bytes)
        peer_die("glib: captured %zu bytes, expected %llu", (size_t)len, bytes);
    g_bytes_unref(out);
    g_object_unref(sp);
}

typedef struct glib_conc {
    int pending;
    int failed;
} glib_conc;

static void glib_communicated(GObject *src, GAsyncResult *res, gpointer user)
{
    glib_conc *c = user;
    GSubprocess *sp = G_SUBPROCESS(src);
    GBytes *out = NULL;
    GError *err = NULL;
    if (!g_subprocess_communicate_finish(sp, res, &out, NULL, &err))
        g_fail("g_subprocess_communicate_finish", err);
    if (!out || g_bytes_get_size(out) != SEQ_BYTES)
        c->failed = 1;
    if (out)
        g_bytes_unref(out);
    c->pending--;
}

static void glib_concurrent(int n)
{
    const gchar *argv[] = {"seq", "1000", NULL};
    GSubprocess *sps[256];
    glib_conc c = {n, 0};
    for (int i = 0; i < n; i++) {
        GError *err = NULL;
        sps[i] = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &err);
        if (!sps[i])
            g_fail("g_subprocess_newv", err);
        g_subprocess_communicate_async(sps[i], NULL, NULL, glib_communicated, &c);
    }
    while (c.pending > 0)
        g_main_context_iteration(NULL, TRUE);
    for (int i = 0; i < n; i++) {
        GError *err = NULL;
        /* communicate has seen EOF; the exit itself is waited here. */
        if (!g_subprocess_wait_check(sps[i], NULL, &err))
            g_fail("g_subprocess_wait_check", err);
        g_object_unref(sps[i]);
    }
    if (c.failed)
        peer_die("glib concurrent: a child's output had the wrong size");
}

static GSubprocess *glib_rss_sp[RSS_CHILDREN];
static int glib_rss_n;

static void glib_rss_kill(void)
{
    for (int i = 0; i < glib_rss_n; i++)
        g_subprocess_force_exit(glib_rss_sp[i]);
    for (int i = 0; i < glib_rss_n; i++) {
        g_subprocess_wait(glib_rss_sp[i], NULL, NULL);
        g_object_unref(glib_rss_sp[i]);
    }
    glib_rss_n = 0;
}

static double glib_rss(void)
{
    const gchar *argv[] = {"sleep", "30", NULL};
    long before = peer_vmrss_kib();
    for (int i = 0; i < RSS_CHILDREN; i++) {
        GError *err = NULL;
        glib_rss_sp[i] = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_NONE, &err);
        if (!glib_rss_sp[i])
            g_fail("g_subprocess_newv", err);
        glib_rss_n = i + 1;
    }
    long after = peer_vmrss_kib();
    glib_rss_kill();
    return (double)(after - before) / RSS_CHILDREN;
}

/* ---------------------------------------------------------------- main */

static int use_uv;

static void cleanup_all(void)
{
    if (use_uv)
        uv_rss_kill();
    else
        glib_rss_kill();
}

int main(int argc, char **argv)
{
    peer_parse_args(argc, argv, &args);
    peer_cleanup_hook = cleanup_all;
    use_uv = strcmp(args.impl, "libuv") == 0;
    if (!use_uv && strcmp(args.impl, "glib") != 0)
        peer_die("unknown impl %s (this driver has libuv and glib)", args.impl);
    const char *sc = args.scenario;
    char note[128];
    if (use_uv) {
        uvl = uv_default_loop();
        snprintf(note, sizeof note, "libuv %s", uv_version_string());
    } else {
        snprintf(note, sizeof note, "GLib %u.%u.%u", glib_major_version, glib_minor_version, glib_micro_version);
    }
    peer_emit_text(&args, "note", note);
    if (!strcmp(sc, "teardown_1000")) {
        peer_emit_text(&args, "unsupported",
                       use_uv ? "libuv has no process-group or tree kill: uv_process_kill/uv_kill signal one pid "
                                "(UV_PROCESS_DETACHED only makes the child a session leader)"
                              : "GSubprocess has no process-group or tree kill: g_subprocess_send_signal/force_exit "
                                "reach the direct child only");
        return 0;
    }
    int is_spawn = !strcmp(sc, "spawn_wait_true"), is_small = !strcmp(sc, "capture_small"),
        is_big = !strcmp(sc, "capture_256MiB"), is_c16 = !strcmp(sc, "concurrent_16"),
        is_c256 = !strcmp(sc, "concurrent_256"), is_rss = !strcmp(sc, "rss_per_child");
    if (!(is_spawn || is_small || is_big || is_c16 || is_c256 || is_rss))
        peer_die("unknown scenario %s", sc);

    static char *true_argv[] = {"/bin/true", NULL};
    static char *small_argv[] = {"head", "-c", "1024", "/dev/zero", NULL};
    static char *big_argv[] = {"head", "-c", "268435456", "/dev/zero", NULL};
    static char *seq_argv[] = {"seq", "1000", NULL};
    int total = args.warmup + args.iterations;
    for (int i = 0; i < total; i++) {
        int record = i >= args.warmup;
        if (is_rss) {
            if (!record) {
                use_uv ? uv_runs(1, true_argv, 0, 0) : glib_spawn_wait();
                continue;
            }
            peer_emit(&args, use_uv ? uv_rss() : glib_rss(), "KiB");
            continue;
        }
        uint64_t t0 = peer_now_ns();
        if (use_uv) {
            if (is_spawn)
                uv_runs(1, true_argv, 0, 0);
            else if (is_small)
                uv_runs(1, small_argv, 1, SMALL_BYTES);
            else if (is_big)
                uv_runs(1, big_argv, 1, BIG_BYTES);
            else
                uv_runs(is_c16 ? 16 : 256, seq_argv, 1, SEQ_BYTES);
        } else {
            if (is_spawn)
                glib_spawn_wait();
            else if (is_small)
                glib_capture(SMALL_BYTES);
            else if (is_big)
                glib_capture(BIG_BYTES);
            else
                glib_concurrent(is_c16 ? 16 : 256);
        }
        double us = peer_us_since(t0);
        if (record)
            peer_emit(&args, us, "us");
    }
    if (use_uv)
        uv_loop_close(uvl);
    return 0;
}
