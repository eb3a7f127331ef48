/* `pk timeout [OPTION]... DURATION COMMAND [ARG]...`: GNU timeout(1)'s
 * command line, options and exit statuses, with COMMAND's whole process tree
 * held in a processkit group, so that the tree dies on timeout, on the
 * --kill-after kill, when COMMAND ends and (cgroup v2, through the library's
 * keeper) when pk timeout itself is SIGKILLed. --no-tree gives GNU's plain
 * process-group behaviour instead.
 *
 * How it runs COMMAND: pk forks; the child waits on a pipe until the parent
 * has put it into the group (pk_group_adopt; with --no-tree there is no
 * group, and the child leads a process group of its own unless
 * --foreground), then
 * restores the signal mask pk started with and execs COMMAND. So COMMAND gets
 * what GNU's would: every fd pk inherited, the signal dispositions pk started
 * with (an ignored signal stays ignored, SIGPIPE included), and pk's process
 * group unless it must lead one.
 * pk installs no signal handler: the signals it passes on are blocked and
 * read from a signalfd, COMMAND's end is read from its pidfd, and every wait
 * counts down a monotonic deadline.
 *
 * Linux only (pk.exe has no `timeout`); the file compiles to nothing on
 * Windows so the mingw check can still build every cli/ source. */
#ifndef _WIN32
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_parse.h"
#include "pk_cli.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define NEVER UINT64_MAX

typedef struct timeout_opts {
    uint64_t duration_ns;   /* 0: no timeout */
    uint64_t kill_after_ns; /* 0: no --kill-after */
    int signal;
    int preserve_status, foreground, verbose, no_tree;
    int command; /* argv index of COMMAND */
} timeout_opts;

/* How signals reach what runs. */
enum target {
    TARGET_TREE,    /* the processkit group: the whole tree */
    TARGET_PGROUP,  /* --no-tree: COMMAND's own process group */
    TARGET_COMMAND, /* --foreground: COMMAND alone */
};

typedef struct timeout_run {
    const timeout_opts *o;
    const char *name; /* COMMAND as given, for messages */
    pid_t pid;
    pk_group *group;
    int target;
    char how[64]; /* " (whole tree, cgroup-v2)", for --verbose */
} timeout_run;

/* ---------------------------------------------------------------- messages */

static void timeout_usage(FILE *out)
{
    fputs("usage: pk timeout [OPTION]... DURATION COMMAND [ARG]...\n"
          "       pk timeout --help | --version\n"
          "Run COMMAND and, if it is still running after DURATION, send it a signal:\n"
          "GNU timeout's command line, but the signal reaches COMMAND's whole process\n"
          "tree, and whatever the tree leaves running dies with COMMAND.\n"
          "\n"
          "  -s, --signal=SIG       the signal to send on timeout: a name with or without\n"
          "                         SIG (TERM, int, RTMIN+1), a number, or 0; default TERM\n"
          "  -k, --kill-after=DUR   also send KILL if COMMAND still runs DUR after the\n"
          "                         first signal\n"
          "      --preserve-status  exit with COMMAND's status even when it timed out\n"
          "      --foreground       signal COMMAND alone, and leave it in pk's process\n"
          "                         group so it can read the terminal and get its signals\n"
          "      --no-tree          GNU's process-group behaviour: signal COMMAND's process\n"
          "                         group only; descendants may outlive it\n"
          "  -v, --verbose          report every signal sent on stderr\n"
          "      --help             print this and exit\n"
          "      --version          print the version and exit\n"
          "\n"
          "DURATION is a number (1.5, 1e3 or a hex float) with an optional suffix: s for\n"
          "seconds (the default), m minutes, h hours, d days. 0 means no timeout.\n"
          "Signals that pk timeout receives (TERM, INT, HUP, QUIT, USR1, PIPE, ...) are\n"
          "passed on the same way; ALRM counts as the timeout expiring.\n"
          "\n"
          "Exit status: 124 if COMMAND timed out (unless --preserve-status); 125 if pk\n"
          "timeout failed; 126 if COMMAND could not be run; 127 if it was not found;\n"
          "otherwise COMMAND's own (128+N when signal N killed it).\n",
          out);
}

/* "pk timeout: " + the message, then where to read more; returns 125. */
__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "pk timeout: %s\nRun 'pk timeout --help' for usage.\n", msg);
    return EXIT_PK_ERROR;
}

/* COMMAND's name in quotes, with quotes, backslashes and control bytes escaped. */
static void quote_name(const char *name, char *buf, size_t len)
{
    size_t n = 0;
    if (len < 3) {
        if (len)
            buf[0] = '\0';
        return;
    }
    buf[n++] = '\'';
    for (const unsigned char *p = (const unsigned char *)name; *p && n + 6 < len; p++) {
        if (*p == '\'' || *p == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f) {
            n += (size_t)snprintf(buf + n, len - n, "\\%03o", *p);
        } else {
            buf[n++] = (char)*p;
        }
    }
    buf[n++] = '\'';
    buf[n] = '\0';
}

/* ------------------------------------------------------------- arguments */

enum { OPT_KILL_AFTER, OPT_SIGNAL, OPT_VERBOSE, OPT_FOREGROUND, OPT_PRESERVE, OPT_NO_TREE, OPT_HELP, OPT_VERSION };

static const struct {
    const char *name;
    int id;
    int valued;
} long_opts[] = {
    {"kill-after", OPT_KILL_AFTER, 1}, {"signal", OPT_SIGNAL, 1},        {"verbose", OPT_VERBOSE, 0},
    {"foreground", OPT_FOREGROUND, 0}, {"preserve-status", OPT_PRESERVE, 0}, {"no-tree", OPT_NO_TREE, 0},
    {"help", OPT_HELP, 0},             {"version", OPT_VERSION, 0},
};
#define LONG_OPT_COUNT (sizeof long_opts / sizeof long_opts[0])

/* Applies one option; returns -1 to go on, or an exit status. */
static int apply_option(int id, const char *value, timeout_opts *o)
{
    char err[256];
    switch (id) {
    case OPT_KILL_AFTER:
        if (pkcli_parse_gnu_duration(value, &o->kill_after_ns, err, sizeof err) != 0)
            return usage_error("%s", err);
        return -1;
    case OPT_SIGNAL:
        if (pkcli_parse_gnu_signal(value, &o->signal, err, sizeof err) != 0)
            return usage_error("%s", err);
        return -1;
    case OPT_VERBOSE: o->verbose = 1; return -1;
    case OPT_FOREGROUND: o->foreground = 1; return -1;
    case OPT_PRESERVE: o->preserve_status = 1; return -1;
    case OPT_NO_TREE: o->no_tree = 1; return -1;
    case OPT_HELP:
        timeout_usage(stdout);
        return fflush(stdout) == 0 ? 0 : EXIT_PK_ERROR;
    default:
        printf("pk timeout (processkit) %s\n", pk_version_string());
        return fflush(stdout) == 0 ? 0 : EXIT_PK_ERROR;
    }
}

/* A long option by its name or an unambiguous prefix of it. */
static int find_long(const char *arg, size_t len, int *index)
{
    int found = -1, matches = 0;
    for (size_t i = 0; i < LONG_OPT_COUNT; i++) {
        if (strncmp(long_opts[i].name, arg, len) != 0)
            continue;
        if (long_opts[i].name[len] == '\0') {
            *index = (int)i;
            return 1;
        }
        found = (int)i;
        matches++;
    }
    if (matches == 1)
        *index = found;
    return matches;
}

/* GNU's option rules: options (bundled short ones, long ones or their
 * prefixes, values attached or in the next argument) until "--" or the
 * first operand, which is DURATION; COMMAND's own options are left alone.
 * Returns -1 to go on, or an exit status (after any message). */
static int parse_args(int argc, char **argv, timeout_opts *o)
{
    memset(o, 0, sizeof *o);
    o->signal = SIGTERM;
    int i = 2;
    while (i < argc) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (arg[0] != '-' || arg[1] == '\0')
            break;
        int rc = -1;
        if (arg[1] == '-') {
            const char *name = arg + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            int k = -1;
            int matches = find_long(name, len, &k);
            char shown[128];
            snprintf(shown, sizeof shown, "--%.*s", (int)(len < 100 ? len : 100), name);
            if (matches == 0)
                return usage_error("unknown option '%s'", shown);
            if (k < 0)
                return usage_error("option '%s' is ambiguous (more than one option starts so)", shown);
            if (!long_opts[k].valued && eq)
                return usage_error("option '--%s' takes no value", long_opts[k].name);
            const char *value = NULL;
            if (long_opts[k].valued) {
                if (eq)
                    value = eq + 1;
                else if (i + 1 < argc)
                    value = argv[++i];
                else
                    return usage_error("option '--%s' needs a value", long_opts[k].name);
            }
            rc = apply_option(long_opts[k].id, value, o);
        } else {
            for (const char *p = arg + 1; *p && rc < 0; p++) {
                if (*p == 'v') {
                    rc = apply_option(OPT_VERBOSE, NULL, o);
                } else if (*p == 'k' || *p == 's') {
                    const char *value = p[1] ? p + 1 : (i + 1 < argc ? argv[++i] : NULL);
                    if (!value)
                        return usage_error("option '-%c' needs a value", *p);
                    rc = apply_option(*p == 'k' ? OPT_KILL_AFTER : OPT_SIGNAL, value, o);
                    break;
                } else {
                    return usage_error("unknown option '-%c'", *p);
                }
            }
        }
        if (rc >= 0)
            return rc;
        i++;
    }
    if (i >= argc)
        return usage_error("missing operand: DURATION and COMMAND");
    if (i + 1 >= argc)
        return usage_error("missing operand: COMMAND after '%s'", argv[i]);
    char err[256];
    if (pkcli_parse_gnu_duration(argv[i], &o->duration_ns, err, sizeof err) != 0)
        return usage_error("%s", err);
    o->command = i + 1;
    return -1;
}

/* --------------------------------------------------------------- signals */

/* The signals pk timeout passes on: those whose default would end it (but
 * the faults its own code could raise), and the --signal one. A signal
 * ignored when pk started is left ignored, so COMMAND inherits that too. */
static void watched_signals(int extra, sigset_t *set)
{
    static const int base[] = {SIGHUP,  SIGINT,  SIGQUIT,   SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM,
                               SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGIO,
#ifdef SIGSTKFLT
                               SIGSTKFLT,
#endif
#ifdef SIGPWR
                               SIGPWR,
#endif
    };
    sigemptyset(set);
    int count = (int)(sizeof base / sizeof base[0]);
    for (int i = 0; i < count + 1 + (SIGRTMAX - SIGRTMIN + 1); i++) {
        int sig = i < count ? base[i] : i == count ? extra : SIGRTMIN + (i - count - 1);
        if (sig <= 0 || sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD)
            continue;
        struct sigaction old;
        if (sigaction(sig, NULL, &old) != 0 || old.sa_handler == SIG_IGN)
            continue;
        sigaddset(set, sig);
    }
}

/* The deadlines' clock: CLOCK_BOOTTIME, monotonic and (like the wall-clock
 * timer of GNU's) counting time the machine spends suspended. */
static clockid_t deadline_clock = CLOCK_BOOTTIME;

static uint64_t now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(deadline_clock, &ts) != 0) {
        deadline_clock = CLOCK_MONOTONIC;
        clock_gettime(deadline_clock, &ts);
    }
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t deadline_after(uint64_t ns)
{
    if (ns == NEVER)
        return NEVER;
    uint64_t now = now_ns();
    return ns > NEVER - 1 - now ? NEVER : now + ns;
}

/* Sends sig where this run's signals go (0 sends nothing but the SIGCONT);
 * --verbose says so first. */
static void send_signal(timeout_run *r, int sig)
{
    if (r->o->verbose) {
        char name[32], quoted[512];
        pkcli_gnu_signal_name(sig, name, sizeof name);
        quote_name(r->name, quoted, sizeof quoted);
        fprintf(stderr, "pk timeout: sending signal %s to command %s%s\n", name, quoted, r->how);
    }
    /* COMMAND is our unreaped child, so neither its pid nor the process
     * group it leads can have been recycled. */
    switch (r->target) {
    case TARGET_COMMAND:
        if (sig)
            kill(r->pid, sig);
        return;
    case TARGET_PGROUP:
        if (sig)
            killpg(r->pid, sig);
        if (sig != SIGKILL && sig != SIGCONT)
            killpg(r->pid, SIGCONT); /* a stopped process acts on it only once continued */
        return;
    default:
        if (sig == SIGKILL) {
            pk_group_kill(r->group);
            return;
        }
        if (sig)
            pk_group_signal(r->group, sig);
        if (sig != SIGCONT)
            pk_group_signal(r->group, SIGCONT);
        return;
    }
}

/* ------------------------------------------------------------- the child */

/* In the forked child: lead a process group when asked, wait until the
 * parent has contained us, then become COMMAND. Never returns. */
static void child_exec(char **argv, const sigset_t *mask, int go_fd, int status_fd, int own_pgroup)
{
    if (own_pgroup)
        setpgid(0, 0);
    if (go_fd >= 0) {
        char go;
        ssize_t n;
        do
            n = read(go_fd, &go, 1);
        while (n < 0 && errno == EINTR);
        if (n != 1)
            _exit(EXIT_PK_ERROR); /* the parent gave up (or died) before containing us */
        close(go_fd);
    }
    sigprocmask(SIG_SETMASK, mask, NULL);
    execvp(argv[0], argv);
    int e = errno;
    ssize_t w = write(status_fd, &e, sizeof e);
    (void)w;
    _exit(e == ENOENT ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE);
}

/* Puts the child into a processkit group: a cgroup (or, by default where
 * there is none, a process group it then leads). With --foreground only a
 * cgroup will do, as a process group would take COMMAND out of the
 * terminal's foreground group; without one COMMAND runs uncontained, as
 * under GNU. Returns 0, or EXIT_PK_ERROR after a message. */
static int contain(timeout_run *r)
{
    const int backends[2] = {r->o->foreground ? PK_BACKEND_CGROUP_V2 : PK_BACKEND_AUTO, PK_BACKEND_PROCESS_GROUP};
    const int tries = r->o->foreground ? 1 : 2;
    char why[1024] = "";
    for (int t = 0; t < tries; t++) {
        pk_group_options go = PK_GROUP_OPTIONS_INIT;
        go.backend = backends[t];
        pk_group *g = NULL;
        int rc = pk_group_create(&go, &g);
        if (rc == PK_OK)
            rc = pk_group_adopt(g, r->pid);
        if (rc == PK_OK) {
            pk_containment c = PK_CONTAINMENT_INIT;
            pk_group_containment(g, &c);
            r->group = g;
            snprintf(r->how, sizeof r->how, r->o->foreground ? " (the command alone; its tree is in %s)"
                                                             : " (whole tree, %s)",
                     pk_mechanism_name(c.mechanism));
            return 0;
        }
        snprintf(why, sizeof why, "%s", pk_last_error());
        pk_group_free(g);
        if (backends[t] == PK_BACKEND_PROCESS_GROUP)
            break;
    }
    if (r->o->foreground) {
        snprintf(r->how, sizeof r->how, " (the command alone)");
        return 0;
    }
    fprintf(stderr, "pk timeout: cannot contain the command: %s\n", why);
    return EXIT_PK_ERROR;
}

/* Dies of sig, as COMMAND did, so pk's own parent sees what its shell would
 * have seen without pk in between; exits 128+sig if that does not happen. */
static int die_of(int sig)
{
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* the core, if any, was COMMAND's to dump */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    raise(sig);
    sigprocmask(SIG_UNBLOCK, &one, NULL);
    return 128 + sig;
}

/* ----------------------------------------------------------------- main */

int pkcli_cmd_timeout(int argc, char **argv)
{
    timeout_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    timeout_run r;
    memset(&r, 0, sizeof r);
    r.o = &o;
    r.name = argv[o.command];
    r.target = o.foreground ? TARGET_COMMAND : o.no_tree ? TARGET_PGROUP : TARGET_TREE;
    if (o.no_tree)
        snprintf(r.how, sizeof r.how, o.foreground ? " (the command alone)" : " (its process group)");

    sigset_t start_mask, watched;
    sigprocmask(SIG_SETMASK, NULL, &start_mask);
    watched_signals(o.signal, &watched);
    sigprocmask(SIG_BLOCK, &watched, NULL);
    int sigfd = signalfd(-1, &watched, SFD_CLOEXEC | SFD_NONBLOCK);
    int go[2] = {-1, -1}, status[2] = {-1, -1};
    const int adopt = !o.no_tree;
    if (sigfd < 0 || pipe2(status, O_CLOEXEC) != 0 || (adopt && pipe2(go, O_CLOEXEC) != 0)) {
        fprintf(stderr, "pk timeout: %s\n", strerror(errno));
        return EXIT_PK_ERROR;
    }
    fflush(stdout);
    fflush(stderr);
    r.pid = fork();
    if (r.pid < 0) {
        fprintf(stderr, "pk timeout: fork: %s\n", strerror(errno));
        return EXIT_PK_ERROR;
    }
    if (r.pid == 0)
        child_exec(argv + o.command, &start_mask, go[0], status[1], o.no_tree && !o.foreground);
    close(status[1]);
    if (adopt)
        close(go[0]);
    else if (!o.foreground)
        setpgid(r.pid, r.pid); /* as the child does: no signal can find the group missing */

    if (adopt && (rc = contain(&r)) != 0) {
        /* Ours, still waiting on the pipe: it never ran COMMAND, and a
         * SIGKILL ends it at once. */
        kill(r.pid, SIGKILL);
        waitpid(r.pid, NULL, 0);
        return rc;
    }
    if (adopt) {
        ssize_t n;
        do
            n = write(go[1], "g", 1);
        while (n < 0 && errno == EINTR);
        close(go[1]);
    }

    /* COMMAND runs: wait for its end (its pidfd), signals (the signalfd)
     * and the deadlines (a timerfd on their clock, which, unlike a poll
     * timeout, also runs out while the machine is suspended). */
    int pidfd = (int)syscall(SYS_pidfd_open, r.pid, 0);
    now_ns(); /* settles the clock */
    int tfd = timerfd_create(deadline_clock, TFD_CLOEXEC | TFD_NONBLOCK);
    uint64_t deadline = o.duration_ns ? deadline_after(o.duration_ns) : NEVER;
    uint64_t kill_at = NEVER;
    int kill_armed = 0, timed_out = 0, wstatus = 0;
    const pid_t self = getpid();
    for (;;) {
        struct pollfd fds[3] = {
            {.fd = pidfd, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}, {.fd = tfd, .events = POLLIN}};
        uint64_t next = deadline < kill_at ? deadline : kill_at;
        struct timespec wait = {0, 0}, *wait_p = NULL;
        if (tfd >= 0) {
            struct itimerspec at;
            memset(&at, 0, sizeof at); /* all zero: disarmed */
            if (next != NEVER) {
                at.it_value.tv_sec = (time_t)(next / 1000000000u);
                at.it_value.tv_nsec = (long)(next % 1000000000u);
            }
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &at, NULL);
        }
        if ((tfd < 0 && next != NEVER) || pidfd < 0) {
            uint64_t now = now_ns();
            uint64_t left = next > now ? next - now : 0;
            if (pidfd < 0 && left > 10000000u)
                left = 10000000u; /* no pidfd (before Linux 5.3): look every 10 ms */
            wait.tv_sec = (time_t)(left / 1000000000u);
            wait.tv_nsec = (long)(left % 1000000000u);
            wait_p = &wait;
        }
        (void)ppoll(fds, 3, wait_p, NULL);
        if (tfd >= 0 && fds[2].revents) {
            uint64_t expirations;
            ssize_t n = read(tfd, &expirations, sizeof expirations);
            (void)n;
        }

        pid_t w;
        do
            w = waitpid(r.pid, &wstatus, WNOHANG);
        while (w < 0 && errno == EINTR);
        if (w == r.pid)
            break;

        int fire = 0; /* the timeout, or the kill, is due */
        struct signalfd_siginfo si;
        while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
            int sig = (int)si.ssi_signo;
            if ((pid_t)si.ssi_pid == self)
                continue; /* pk's own: a SIGPIPE from writing to a closed stderr */
            if (sig == SIGALRM) {
                fire = 1; /* as in GNU, an ALRM is the timeout expiring now */
                continue;
            }
            send_signal(&r, sig);
            if (o.kill_after_ns && !kill_armed) {
                kill_armed = 1;
                kill_at = deadline_after(o.kill_after_ns);
            }
        }
        uint64_t now = now_ns();
        if (now >= deadline || fire) {
            deadline = NEVER;
            timed_out = 1;
            /* Once the polite signal has gone out and a kill is pending, a
             * timeout brings the kill. */
            send_signal(&r, kill_armed ? SIGKILL : o.signal);
            if (o.kill_after_ns && !kill_armed) {
                kill_armed = 1;
                kill_at = deadline_after(o.kill_after_ns);
            }
        }
        if (now_ns() >= kill_at) {
            kill_at = NEVER;
            send_signal(&r, SIGKILL);
        }
    }
    if (pidfd >= 0)
        close(pidfd);
    if (tfd >= 0)
        close(tfd);
    close(sigfd);

    /* The rest of the tree goes with COMMAND (unless --no-tree). */
    if (r.group && pk_group_free(r.group) != PK_OK)
        fprintf(stderr, "pk timeout: %s\n", pk_last_error());

    int exec_errno = 0;
    ssize_t got;
    do
        got = read(status[0], &exec_errno, sizeof exec_errno);
    while (got < 0 && errno == EINTR);
    close(status[0]);
    if (got == (ssize_t)sizeof exec_errno) {
        char quoted[512];
        quote_name(r.name, quoted, sizeof quoted);
        fprintf(stderr, "pk timeout: cannot run command %s: %s\n", quoted, strerror(exec_errno));
    }

    int code;
    if (WIFSIGNALED(wstatus)) {
        int sig = WTERMSIG(wstatus);
        if (WCOREDUMP(wstatus))
            fputs("pk timeout: the command dumped core\n", stderr);
        if (!timed_out)
            return die_of(sig);
        code = 128 + sig;
    } else {
        code = WEXITSTATUS(wstatus);
    }
    return timed_out && !o.preserve_status ? EXIT_TIMEOUT : code;
}

#else
typedef int pkcli_timeout_is_linux_only;
#endif
