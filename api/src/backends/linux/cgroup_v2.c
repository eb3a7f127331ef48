/* The Linux cgroup v2 backend: each group is a fresh leaf cgroup under the
 * caller's own, children are born inside it (clone3 CLONE_INTO_CGROUP), and
 * teardown is the kernel's atomic cgroup.kill. A descendant cannot leave a
 * cgroup by calling setsid, so the whole tree is contained.
 *
 * No controller is enabled unless limits are asked for: cgroup.kill,
 * cgroup.freeze, cgroup.events and cpu.stat need none, and enabling one would
 * subject the caller's cgroup to the no-internal-processes rule. */
#include "cgroup_v2.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "keeper.h"
#include "sys.h"

/* How long suspend waits for the kernel to report the tree frozen. */
#define FREEZE_WAIT_MS 5000
/* Sweeps of the pre-5.14 kill fallback before it admits failure. */
#define KILL_SWEEPS 50

/* Facts about the host, read once: where cgroup2 is and where we sit in it. */
typedef struct host_facts {
    pk_backend_probe probe;
    char mount[256];         /* the cgroup2 mount, or "" */
    char own_dir[PATH_MAX];  /* the caller's cgroup directory */
    char own_rel[PATH_MAX];  /* the same, relative to the hierarchy root ("/..." ) */
    int has_kill;            /* cgroup.kill (5.14) */
    int has_freeze;          /* cgroup.freeze (5.2) */
    char controllers[256];   /* the caller's cgroup.controllers */
} host_facts;

static host_facts facts;
static pthread_once_t facts_once = PTHREAD_ONCE_INIT;
static atomic_int force_kill_fallback;
static atomic_uint leaf_counter;

void pk__cgroup_force_kill_fallback(int on)
{
    atomic_store(&force_kill_fallback, on);
}

static int kernel_at_least(int major, int minor)
{
    struct utsname u;
    int ma = 0, mi = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
        return 0;
    return ma > major || (ma == major && mi >= minor);
}

/* mountinfo escapes spaces and the like as \ooo. */
static void unescape(char *s)
{
    char *out = s;
    for (char *in = s; *in; in++) {
        if (in[0] == '\\' && in[1] >= '0' && in[1] <= '7' && in[2] >= '0' && in[2] <= '7' && in[3] >= '0' &&
            in[3] <= '7') {
            *out++ = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
            in += 3;
        } else {
            *out++ = *in;
        }
    }
    *out = '\0';
}

/* Finds the cgroup2 mount: its mount point and the hierarchy path it shows. */
static int find_mount(char *mount_point, size_t mp_len, char *mount_root, size_t mr_len)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        /* id parent dev root mountpoint opts [optional...] - fstype source superopts */
        char *sep = strstr(line, " - ");
        if (!sep)
            continue;
        char fstype[64];
        if (sscanf(sep + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2") != 0)
            continue;
        char root[PATH_MAX], point[PATH_MAX];
        if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, point) != 2)
            continue;
        unescape(root);
        unescape(point);
        pk__format(mount_point, mp_len, "%s", point);
        pk__format(mount_root, mr_len, "%s", root);
        found = 1;
    }
    fclose(f);
    return found;
}

static void read_facts(void)
{
    pk_backend_probe *p = &facts.probe;
    memset(p, 0, sizeof *p);
    char root[PATH_MAX];
    if (!find_mount(facts.mount, sizeof facts.mount, root, sizeof root)) {
        pk__format(p->reason, sizeof p->reason, "no cgroup2 filesystem is mounted (/proc/self/mountinfo)");
        return;
    }
    char buf[8192];
    if (pk__read_file("/proc/self/cgroup", buf, sizeof buf) < 0) {
        pk__format(p->reason, sizeof p->reason, "cannot read /proc/self/cgroup");
        return;
    }
    const char *line = strstr(buf, "0::");
    if (line != buf && line && line[-1] != '\n')
        line = NULL;
    if (!line) {
        pk__format(p->reason, sizeof p->reason, "this process has no cgroup v2 membership (no 0:: line)");
        return;
    }
    char rel[PATH_MAX];
    if (sscanf(line + 3, "%4095[^\n]", rel) != 1)
        pk__format(rel, sizeof rel, "/");
    pk__format(facts.own_rel, sizeof facts.own_rel, "%s", rel);
    /* Our path as the mount shows it: strip the mount's own root. */
    size_t root_len = strcmp(root, "/") == 0 ? 0 : strlen(root);
    if (root_len && (strncmp(rel, root, root_len) != 0 || (rel[root_len] != '/' && rel[root_len] != '\0'))) {
        pk__format(p->reason, sizeof p->reason, "this process's cgroup %s is outside the cgroup2 mount at %s", rel,
                   facts.mount);
        return;
    }
    const char *below = rel + root_len;
    pk__format(facts.own_dir, sizeof facts.own_dir, "%s%s", facts.mount, strcmp(below, "/") == 0 ? "" : below);

    if (access(facts.own_dir, W_OK) != 0) {
        pk__format(p->reason, sizeof p->reason, "cannot create a cgroup under %s: %s", facts.own_dir,
                   strerror(errno));
        return;
    }
    if (syscall(SYS_clone3, NULL, 0) < 0 && errno == ENOSYS) {
        pk__format(p->reason, sizeof p->reason,
                   "clone3 is unavailable (kernel before 5.3, or a seccomp filter): children cannot be placed in a "
                   "cgroup at birth");
        return;
    }
    if (!kernel_at_least(5, 7)) {
        pk__format(p->reason, sizeof p->reason, "the kernel predates CLONE_INTO_CGROUP (5.7)");
        return;
    }
    char path[PATH_MAX + 32];
    pk__format(path, sizeof path, "%s/cgroup.controllers", facts.own_dir);
    if (pk__read_file(path, facts.controllers, sizeof facts.controllers) < 0)
        facts.controllers[0] = '\0';
    char *nl = strchr(facts.controllers, '\n');
    if (nl)
        *nl = '\0';
    facts.has_kill = kernel_at_least(5, 14);
    facts.has_freeze = kernel_at_least(5, 2);

    p->available = 1;
    p->features = PK_FEATURE_CONTAINS_SETSID | PK_FEATURE_ALL_MEMBERS | PK_FEATURE_SIGNALS | PK_FEATURE_CPU_STATS |
                  PK_FEATURE_OWNER_DEATH;
    if (facts.has_kill)
        p->features |= PK_FEATURE_ATOMIC_KILL;
    if (facts.has_freeze)
        p->features |= PK_FEATURE_FREEZE;
    if (pk__cgroup_has_controller(facts.controllers, "memory"))
        p->features |= PK_FEATURE_LIMIT_MEMORY | PK_FEATURE_MEMORY_STATS;
    if (pk__cgroup_has_controller(facts.controllers, "pids"))
        p->features |= PK_FEATURE_LIMIT_PIDS;
    if (pk__cgroup_has_controller(facts.controllers, "cpu"))
        p->features |= PK_FEATURE_LIMIT_CPU;
}

int pk__cgroup_has_controller(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
            return 1;
    return 0;
}

void pk__cgroup_cpu_max(double cores, char *buf, size_t len)
{
    /* Rounded by hand: the library does not link libm. */
    double quota = cores * 100000.0;
    if (!(quota >= 1)) /* also nan */
        quota = 1;
    else if (quota < 9e15)
        quota = (double)(int64_t)(quota + 0.5);
    pk__format(buf, len, "%.0f 100000", quota);
}

static void cg_probe(pk_backend_probe *out)
{
    pthread_once(&facts_once, read_facts);
    *out = facts.probe;
}

static void cg_describe_host(pk_containment *out)
{
    pthread_once(&facts_once, read_facts);
    pk__format(out->cgroup_mount, sizeof out->cgroup_mount, "%s", facts.mount);
}

typedef struct cg_state {
    char path[PATH_MAX];
    char rel[PATH_MAX]; /* as /proc/PID/cgroup names it */
    int dir_fd;
    int events_fd;
    pk_limits limits;
    /* cgroup.kill was written. This kernel then kills every child later
     * born into the leaf with CLONE_INTO_CGROUP, so the next spawn moves the
     * group to a fresh leaf. */
    int killed;
    char **retired; /* leaves that were still emptying when replaced */
    size_t retired_count;
    int guarded;    /* the keeper kills the current leaf if the owner dies */
} cg_state;

static int read_at(int dir_fd, const char *file, char **out, size_t *len_out)
{
    int fd = openat(dir_fd, file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 == cap) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (!buf)
        return -ENOMEM;
    buf[len] = '\0';
    *out = buf;
    if (len_out)
        *len_out = len;
    return 0;
}

static int read_pids(int dir_fd, pk_pid_list *out)
{
    char *text;
    int err = read_at(dir_fd, "cgroup.procs", &text, NULL);
    if (err < 0)
        return pk__fail_errno(PK_ERR_OS, -err, "reading cgroup.procs");
    int rc = PK_OK;
    for (char *p = text; *p && rc == PK_OK;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        /* A member of a nested pid namespace we cannot see reads as 0. */
        if (pid > 0)
            rc = pk__pid_list_push(out, (int32_t)pid);
        p = end;
    }
    free(text);
    return rc;
}

static int create_limits(const pk_limits *limits)
{
    static const struct {
        const char *controller;
        const char *file;
    } need[3] = {{"memory", "memory.max"}, {"pids", "pids.max"}, {"cpu", "cpu.max"}};
    const int wanted[3] = {limits->memory_max != 0, limits->pids_max != 0, limits->cpu_max > 0};
    for (int i = 0; i < 3; i++) {
        if (wanted[i] && !pk__cgroup_has_controller(facts.controllers, need[i].controller))
            return pk__fail(PK_ERR_LIMIT,
                            "cannot enforce %s: the %s controller is not available in cgroup v2 at %s "
                            "(available: %s)",
                            need[i].file, need[i].controller, facts.own_dir,
                            facts.controllers[0] ? facts.controllers : "none");
    }
    char path[PATH_MAX + 32], enabled[256];
    pk__format(path, sizeof path, "%s/cgroup.subtree_control", facts.own_dir);
    if (pk__read_file(path, enabled, sizeof enabled) < 0)
        enabled[0] = '\0';
    for (int i = 0; i < 3; i++) {
        if (!wanted[i] || pk__cgroup_has_controller(enabled, need[i].controller))
            continue;
        char word[32];
        pk__format(word, sizeof word, "+%s", need[i].controller);
        int err = pk__write_file(path, word);
        if (err < 0)
            return pk__fail_errno(PK_ERR_LIMIT, -err,
                                  "cannot enforce %s: enabling the %s controller in %s failed (a cgroup that holds "
                                  "processes can hand controllers down only at the hierarchy root)",
                                  need[i].file, need[i].controller, path);
    }
    return PK_OK;
}

static int apply_limits(cg_state *s, const pk_limits *limits)
{
    char value[64];
    int err = 0;
    const char *file = NULL;
    if (limits->memory_max) {
        pk__format(value, sizeof value, "%llu", (unsigned long long)limits->memory_max);
        file = "memory.max";
        err = pk__write_file_at(s->dir_fd, file, value);
    }
    if (!err && limits->pids_max) {
        pk__format(value, sizeof value, "%llu", (unsigned long long)limits->pids_max);
        file = "pids.max";
        err = pk__write_file_at(s->dir_fd, file, value);
    }
    if (!err && limits->cpu_max > 0) {
        pk__cgroup_cpu_max(limits->cpu_max, value, sizeof value);
        file = "cpu.max";
        err = pk__write_file_at(s->dir_fd, file, value);
    }
    if (err)
        return pk__fail_errno(PK_ERR_LIMIT, -err, "cannot enforce %s in %s", file, s->path);
    return PK_OK;
}

static uint32_t process_salt(void)
{
    static atomic_uint salt;
    unsigned v = atomic_load(&salt);
    if (v == 0) {
        /* Distinguishes our leaves from a crashed earlier process with the
         * same pid. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (unsigned)(ts.tv_nsec ^ (ts.tv_sec << 8)) | 1u;
        unsigned expected = 0;
        if (!atomic_compare_exchange_strong(&salt, &expected, v))
            v = expected;
    }
    return v;
}

/* Makes a new leaf for s (path, fds, limits). On failure s's leaf fields are
 * left unusable and nothing is left on disk. */
static int make_leaf(cg_state *s)
{
    const int want_limits = s->limits.memory_max || s->limits.pids_max || s->limits.cpu_max > 0;
    s->dir_fd = s->events_fd = -1;
    int made = 0;
    for (int attempt = 0; attempt < 32 && !made; attempt++) {
        char name[96];
        pk__format(name, sizeof name, "processkit-%d-%08x-%u", (int)getpid(), process_salt(),
                   atomic_fetch_add(&leaf_counter, 1));
        pk__format(s->path, sizeof s->path, "%s/%s", facts.own_dir, name);
        pk__format(s->rel, sizeof s->rel, "%s/%s", strcmp(facts.own_rel, "/") == 0 ? "" : facts.own_rel, name);
        if (mkdir(s->path, 0755) == 0)
            made = 1;
        else if (errno != EEXIST)
            return pk__fail_errno(want_limits ? PK_ERR_LIMIT : PK_ERR_UNAVAILABLE, errno, "mkdir %s", s->path);
    }
    if (!made)
        return pk__fail(PK_ERR_OS, "could not find a free cgroup name under %s", facts.own_dir);
    int rc = PK_OK;
    s->dir_fd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dir_fd < 0)
        rc = pk__fail_errno(PK_ERR_OS, errno, "open %s", s->path);
    if (rc == PK_OK) {
        s->events_fd = openat(s->dir_fd, "cgroup.events", O_RDONLY | O_CLOEXEC);
        if (s->events_fd < 0)
            rc = pk__fail_errno(PK_ERR_OS, errno, "open %s/cgroup.events", s->path);
    }
    if (rc == PK_OK && want_limits)
        rc = apply_limits(s, &s->limits);
    if (rc != PK_OK) {
        if (s->events_fd >= 0)
            close(s->events_fd);
        if (s->dir_fd >= 0)
            close(s->dir_fd);
        s->dir_fd = s->events_fd = -1;
        rmdir(s->path);
        return rc;
    }
    s->killed = 0;
    /* Without a keeper the group still works; it just reports no
     * owner-death guarantee. */
    s->guarded = s->limits.guard_owner_death && pk__keeper_guard(s->path) == PK_OK;
    pk__clear_error();
    return PK_OK;
}

static int cg_create(const pk_limits *limits, void **state)
{
    pthread_once(&facts_once, read_facts);
    if (!facts.probe.available)
        return pk__fail(PK_ERR_UNAVAILABLE, "cgroup-v2 unavailable: %s", facts.probe.reason);
    if (limits->memory_max || limits->pids_max || limits->cpu_max > 0) {
        int rc = create_limits(limits);
        if (rc != PK_OK)
            return rc;
    }
    cg_state *s = calloc(1, sizeof *s);
    if (!s)
        return pk__fail(PK_ERR_NOMEM, "out of memory");
    s->limits = *limits;
    int rc = make_leaf(s);
    if (rc != PK_OK) {
        free(s);
        return rc;
    }
    *state = s;
    return PK_OK;
}

/* Whether pid (opened as pidfd) is a member of this leaf right now. The pid
 * was read from cgroup.procs and may have been recycled since: reading its
 * /proc entry and then seeing the pidfd still alive proves the entry we read
 * described the process the pidfd holds. */
static int verified_member(cg_state *s, pid_t pid, int pidfd)
{
    char path[64], buf[4096];
    pk__format(path, sizeof path, "/proc/%d/cgroup", (int)pid);
    if (pk__read_file(path, buf, sizeof buf) < 0)
        return 0;
    const char *line = strstr(buf, "0::");
    if (!line || (line != buf && line[-1] != '\n'))
        return 0;
    size_t n = strlen(s->rel);
    int same = strncmp(line + 3, s->rel, n) == 0 && (line[3 + n] == '\n' || line[3 + n] == '\0');
    return same && pk__pidfd_send_signal(pidfd, 0) == 0;
}

/* Signals every member through a verified pidfd. Returns the count of
 * members signalled, or a negative pk_error (EPERM is reported). */
static int signal_members(cg_state *s, int sig)
{
    pk_pid_list pids = {0};
    int rc = read_pids(s->dir_fd, &pids);
    if (rc != PK_OK)
        return rc;
    int signalled = 0;
    for (size_t i = 0; i < pids.len; i++) {
        int fd = pk__pidfd_open(pids.pids[i]);
        if (fd < 0)
            continue; /* already gone */
        if (verified_member(s, pids.pids[i], fd)) {
            if (pk__pidfd_send_signal(fd, sig) == 0)
                signalled++;
            else if (errno == EPERM)
                rc = pk__fail_errno(PK_ERR_PERMISSION, EPERM, "signal %d to pid %d", sig, (int)pids.pids[i]);
        }
        close(fd);
    }
    pk__pid_list_free(&pids);
    return rc != PK_OK ? rc : signalled;
}

static int populated(cg_state *s)
{
    char buf[256];
    if (pk__pread_all(s->events_fd, buf, sizeof buf) < 0)
        return 1;
    const char *p = strstr(buf, "populated ");
    return !p || p[10] != '0';
}

static int frozen(cg_state *s)
{
    char buf[256];
    if (pk__pread_all(s->events_fd, buf, sizeof buf) < 0)
        return 0;
    const char *p = strstr(buf, "frozen ");
    return p && p[7] == '1';
}

static int freeze(cg_state *s, int on)
{
    int err = pk__write_file_at(s->dir_fd, "cgroup.freeze", on ? "1" : "0");
    if (err < 0)
        return pk__fail_errno(PK_ERR_OS, -err, "writing %s/cgroup.freeze", s->path);
    return PK_OK;
}

static int kill_by_sweep(cg_state *s)
{
    /* Frozen, the tree cannot fork new members while we sweep; SIGKILL
     * still reaches frozen tasks. */
    int was_frozen = facts.has_freeze && freeze(s, 1) == PK_OK;
    for (int sweep = 0; sweep < KILL_SWEEPS && populated(s); sweep++) {
        int n = signal_members(s, SIGKILL);
        if (n < 0 && n != PK_ERR_PERMISSION)
            break;
        if (n == 0) {
            struct timespec pause = {0, 2 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
    }
    if (was_frozen)
        (void)freeze(s, 0);
    return PK_OK; /* teardown waits for the drain and reports a failure */
}

static int cg_kill_all(void *state)
{
    cg_state *s = state;
    if (facts.has_kill && !atomic_load(&force_kill_fallback)) {
        int err = pk__write_file_at(s->dir_fd, "cgroup.kill", "1");
        if (err == 0) {
            s->killed = 1;
            return PK_OK;
        }
    }
    return kill_by_sweep(s);
}

static int cg_signal_all(void *state, int sig)
{
    int n = signal_members(state, sig);
    return n < 0 ? n : PK_OK;
}

static int cg_suspend(void *state)
{
    cg_state *s = state;
    if (!facts.has_freeze) {
        int n = signal_members(s, SIGSTOP);
        return n < 0 ? n : PK_OK;
    }
    int rc = freeze(s, 1);
    if (rc != PK_OK)
        return rc;
    uint64_t deadline = pk__now_ns() + (uint64_t)FREEZE_WAIT_MS * 1000000u;
    while (!frozen(s)) {
        uint64_t now = pk__now_ns();
        if (now >= deadline) {
            (void)freeze(s, 0);
            return pk__fail(PK_ERR_TIMEOUT, "the tree in %s did not freeze within %d ms", s->path, FREEZE_WAIT_MS);
        }
        (void)pk__poll_one(s->events_fd, 1, (int)((deadline - now) / 1000000u) + 1);
    }
    return PK_OK;
}

static int cg_resume(void *state)
{
    cg_state *s = state;
    if (!facts.has_freeze) {
        int n = signal_members(s, SIGCONT);
        return n < 0 ? n : PK_OK;
    }
    return freeze(s, 0);
}

/* Moves the group to a fresh leaf after a cgroup.kill (see cg_state). */
static int rotate_leaf(cg_state *s)
{
    cg_state old = *s;
    int rc = make_leaf(s);
    if (rc != PK_OK) {
        *s = old;
        return rc;
    }
    /* The old leaf holds only what the kill is finishing off. */
    uint64_t deadline = pk__now_ns() + 1000u * 1000000u;
    while (populated(&old) && pk__now_ns() < deadline)
        (void)pk__poll_one(old.events_fd, 1, 10);
    close(old.events_fd);
    close(old.dir_fd);
    if (rmdir(old.path) == 0) {
        if (old.guarded)
            pk__keeper_release(old.path);
    } else {
        char **grown = realloc(s->retired, (s->retired_count + 1) * sizeof *grown);
        char *copy = strdup(old.path);
        if (grown)
            s->retired = grown;
        if (grown && copy)
            s->retired[s->retired_count++] = copy;
        else
            free(copy);
    }
    return PK_OK;
}

static int cg_prepare_spawn(void *state, pk_spawn_target *target)
{
    cg_state *s = state;
    if (s->killed) {
        int rc = rotate_leaf(s);
        if (rc != PK_OK)
            return rc;
    }
    target->cgroup_fd = s->dir_fd;
    return PK_OK;
}

static int cg_track(void *state, pid_t pid, int pidfd, int new_session)
{
    (void)state, (void)pid, (void)pidfd, (void)new_session; /* the kernel tracks members */
    return PK_OK;
}

static int cg_adopt(void *state, pid_t pid, int pidfd)
{
    cg_state *s = state;
    (void)pidfd; /* the core proved pid is its own unreaped child, so it cannot be recycled */
    char text[32];
    pk__format(text, sizeof text, "%d", (int)pid);
    int err = pk__write_file_at(s->dir_fd, "cgroup.procs", text);
    if (err == -ESRCH)
        return PK_OK; /* it exited meanwhile: nothing to contain */
    if (err < 0)
        return pk__fail_errno(pk__code_from_errno(-err), -err, "moving pid %d into %s", (int)pid, s->path);
    return PK_OK;
}

static int cg_members(void *state, pk_pid_list *out)
{
    return read_pids(((cg_state *)state)->dir_fd, out);
}

static int cg_stats(void *state, pk_group_stats *out)
{
    cg_state *s = state;
    pk_pid_list pids = {0};
    int rc = read_pids(s->dir_fd, &pids);
    if (rc != PK_OK)
        return rc;
    out->live_processes = (uint32_t)pids.len;
    pk__pid_list_free(&pids);
    out->cpu_time_us = -1;
    out->peak_memory_bytes = -1;
    char *text;
    if (read_at(s->dir_fd, "cpu.stat", &text, NULL) == 0) {
        const char *p = strstr(text, "usage_usec ");
        if (p)
            out->cpu_time_us = strtoll(p + 11, NULL, 10);
        free(text);
    }
    if (read_at(s->dir_fd, "memory.peak", &text, NULL) == 0) {
        out->peak_memory_bytes = strtoll(text, NULL, 10);
        free(text);
    }
    return PK_OK;
}

static int cg_drained(void *state)
{
    return !populated(state);
}

static int cg_drain_fd(void *state)
{
    return ((cg_state *)state)->events_fd;
}

/* Survivors a non-escalating shutdown spared move up to the caller's own
 * cgroup, so the leaf can still be removed. */
static void release_survivors(cg_state *s)
{
    pk_pid_list pids = {0};
    if (read_pids(s->dir_fd, &pids) != PK_OK)
        return;
    char path[PATH_MAX + 32];
    pk__format(path, sizeof path, "%s/cgroup.procs", facts.own_dir);
    for (size_t i = 0; i < pids.len; i++) {
        char text[32];
        pk__format(text, sizeof text, "%d", (int)pids.pids[i]);
        (void)pk__write_file(path, text);
    }
    pk__pid_list_free(&pids);
}

static void cg_destroy(void *state, int spare)
{
    cg_state *s = state;
    if (spare)
        release_survivors(s);
    /* An emptied leaf can be removed at once (zombies do not count); a few
     * retries cover a fork that raced the move of survivors. */
    for (int attempt = 0; attempt < 100; attempt++) {
        if (rmdir(s->path) == 0 || errno == ENOENT) {
            if (s->guarded)
                pk__keeper_release(s->path);
            break;
        }
        if (errno != EBUSY)
            break;
        if (spare)
            release_survivors(s);
        struct timespec pause = {0, 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    for (size_t i = 0; i < s->retired_count; i++) {
        char kill_path[PATH_MAX + 16];
        pk__format(kill_path, sizeof kill_path, "%s/cgroup.kill", s->retired[i]);
        (void)pk__write_file(kill_path, "1");
        int removed = 0;
        for (int attempt = 0; attempt < 100 && !removed; attempt++) {
            removed = rmdir(s->retired[i]) == 0 || errno == ENOENT;
            if (!removed && errno != EBUSY)
                break;
            if (!removed) {
                struct timespec pause = {0, 1000 * 1000};
                nanosleep(&pause, NULL);
            }
        }
        if (removed && s->guarded)
            pk__keeper_release(s->retired[i]);
        free(s->retired[i]);
    }
    free(s->retired);
    close(s->events_fd);
    close(s->dir_fd);
    free(s);
}

static void cg_describe(void *state, pk_containment *out)
{
    cg_state *s = state;
    pk__format(out->cgroup_path, sizeof out->cgroup_path, "%s", s->path);
    if (s->guarded)
        out->features |= PK_FEATURE_OWNER_DEATH;
    else
        out->features &= ~(uint32_t)PK_FEATURE_OWNER_DEATH;
}

const pk_backend_ops pk__backend_cgroup_v2 = {
    .version = 2,
    .name = "cgroup-v2",
    .backend_id = PK_BACKEND_CGROUP_V2,
    .mechanism = PK_MECHANISM_CGROUP_V2,
    .probe = cg_probe,
    .create = cg_create,
    .destroy = cg_destroy,
    .prepare_spawn = cg_prepare_spawn,
    .track = cg_track,
    .adopt = cg_adopt,
    .signal = cg_signal_all,
    .kill = cg_kill_all,
    .suspend = cg_suspend,
    .resume = cg_resume,
    .members = cg_members,
    .stats = cg_stats,
    .drained = cg_drained,
    .drain_fd = cg_drain_fd,
    .describe = cg_describe,
    .describe_host = cg_describe_host,
};
