/* pk: run a command inside a kill-on-free container, or report what
 * containment this host offers.
 *
 *   pk run [OPTIONS] -- PROGRAM [ARG...]
 *   pk probe [--json]
 *
 * Exit status of `pk run`: the program's own code; 128+N when signal N
 * killed it; 124 when the timeout fired; 125 for pk's own errors; 126 when
 * the program is not executable; 127 when it is not found. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_parse.h"
#include "json_out.h"
#include "processkit.h"

#define EXIT_TIMEOUT 124
#define EXIT_PK_ERROR 125
#define EXIT_NOT_EXECUTABLE 126
#define EXIT_NOT_FOUND 127

typedef struct run_options {
    uint32_t timeout_ms, grace_ms;
    int signal;
    int backend;
    int capture, json;
    uint64_t max_output;
    const char *cwd;
    const char *stdin_spec; /* NULL or "-" = inherit */
    pk_group_options group;
    char **program_argv;
} run_options;

static int die(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "pk: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return EXIT_PK_ERROR;
}

static void usage(FILE *out)
{
    fputs("usage: pk run [OPTIONS] -- PROGRAM [ARG...]\n"
          "       pk probe [--json]\n"
          "\n"
          "pk run options:\n"
          "  --timeout DUR      bound the run (250ms, 2s, 1.5m, 1h); on expiry send --signal,\n"
          "                     wait --grace, then SIGKILL the tree\n"
          "  --grace DUR        default 2s\n"
          "  --signal SIG       TERM, INT, HUP, ... or a number; default TERM\n"
          "  --backend NAME     auto (default) | cgroup | pgroup\n"
          "  --capture          capture stdout/stderr instead of passing them through\n"
          "  --json             after the run, print one JSON object as the last line of stdout\n"
          "  --max-output N     cap per captured stream in bytes (default 16 MiB); keeps the head\n"
          "  --cwd DIR          working directory\n"
          "  --env K=V          set a variable (repeatable)\n"
          "  --unset K          remove a variable (repeatable)\n"
          "  --clear-env        start from an empty environment\n"
          "  --stdin PATH|-|null  default: inherit (-)\n"
          "  --memory-max BYTES --pids-max N --cpu-max CORES\n"
          "                     limits; if this host cannot enforce one, exit 125 and run nothing\n"
          "\n"
          "Exit status: the program's; 128+N if signal N killed it; 124 on timeout;\n"
          "125 for pk's own errors; 126 if not executable; 127 if not found.\n",
          out);
}

/* Applies one option that takes a value to the command or the options. */
static int apply_valued(const char *name, const char *value, run_options *o, pk_command *cmd)
{
    char err[256];
    int rc = 0;
    if (strcmp(name, "--timeout") == 0)
        rc = pkcli_parse_duration_ms(value, &o->timeout_ms, err, sizeof err);
    else if (strcmp(name, "--grace") == 0)
        rc = pkcli_parse_duration_ms(value, &o->grace_ms, err, sizeof err);
    else if (strcmp(name, "--signal") == 0)
        rc = pkcli_parse_signal(value, &o->signal, err, sizeof err);
    else if (strcmp(name, "--max-output") == 0)
        rc = pkcli_parse_size(value, &o->max_output, err, sizeof err);
    else if (strcmp(name, "--memory-max") == 0)
        rc = pkcli_parse_size(value, &o->group.memory_max, err, sizeof err);
    else if (strcmp(name, "--pids-max") == 0)
        rc = pkcli_parse_count(value, &o->group.pids_max, err, sizeof err);
    else if (strcmp(name, "--cpu-max") == 0)
        rc = pkcli_parse_cores(value, &o->group.cpu_max, err, sizeof err);
    else if (strcmp(name, "--cwd") == 0)
        o->cwd = value;
    else if (strcmp(name, "--stdin") == 0)
        o->stdin_spec = value;
    else if (strcmp(name, "--backend") == 0) {
        if (strcmp(value, "auto") == 0)
            o->group.backend = PK_BACKEND_AUTO;
        else if (strcmp(value, "cgroup") == 0)
            o->group.backend = PK_BACKEND_CGROUP_V2;
        else if (strcmp(value, "pgroup") == 0)
            o->group.backend = PK_BACKEND_PROCESS_GROUP;
        else
            return die("unknown backend '%s' (auto, cgroup or pgroup)%s", value, "");
    } else if (strcmp(name, "--env") == 0) {
        size_t at;
        if (pkcli_parse_env_pair(value, &at, err, sizeof err) != 0)
            return die("%s%s", err, "");
        char *key = strndup(value, at - 1);
        int prc = key ? pk_command_env(cmd, key, value + at) : PK_ERR_NOMEM;
        free(key);
        if (prc != PK_OK)
            return die("--env: %s%s", pk_last_error(), "");
    } else if (strcmp(name, "--unset") == 0) {
        if (pk_command_env_unset(cmd, value) != PK_OK)
            return die("--unset: %s%s", pk_last_error(), "");
    } else {
        return die("unknown option '%s' (see pk run --help)%s", name, "");
    }
    if (rc != 0)
        return die("%s: %s", name, err);
    return 0;
}

static int takes_value(const char *name)
{
    static const char *const valued[] = {"--timeout", "--grace",    "--signal",     "--backend",  "--max-output",
                                         "--cwd",     "--env",      "--unset",      "--stdin",    "--memory-max",
                                         "--pids-max", "--cpu-max", NULL};
    for (int i = 0; valued[i]; i++)
        if (strcmp(name, valued[i]) == 0)
            return 1;
    return 0;
}

/* Parses `pk run` arguments; the command is created from the program name. */
static int parse_run(int argc, char **argv, run_options *o, pk_command **cmd_out)
{
    /* Options may reference the command (--env), so collect them first. */
    int i = 2, prog = -1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(argv[i], "--") == 0) {
            prog = i + 1;
            break;
        }
        if (strncmp(argv[i], "--", 2) != 0) {
            prog = i;
            break;
        }
        const char *eq = strchr(argv[i], '=');
        char name[64];
        snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - argv[i]) : (int)strlen(argv[i]), argv[i]);
        if (takes_value(name) && !eq)
            i++;
    }
    if (prog < 0 || prog >= argc)
        return die("no program given (pk run [OPTIONS] -- PROGRAM [ARG...])%s%s", "", "");
    if (!argv[prog][0])
        return die("the program name is empty%s%s", "", "");
    pk_command *cmd;
    if (pk_command_new(argv[prog], &cmd) != PK_OK)
        return die("%s%s", pk_last_error(), "");
    for (int a = prog + 1; a < argc; a++)
        if (pk_command_arg(cmd, argv[a]) != PK_OK) {
            pk_command_free(cmd);
            return die("%s%s", pk_last_error(), "");
        }

    for (int k = 2; k < prog && strcmp(argv[k], "--") != 0; k++) {
        const char *arg = argv[k];
        const char *eq = strchr(arg, '=');
        char name[64];
        snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
        int rc = 0;
        if (strcmp(name, "--capture") == 0 && !eq)
            o->capture = 1;
        else if (strcmp(name, "--json") == 0 && !eq)
            o->json = 1;
        else if (strcmp(name, "--clear-env") == 0 && !eq)
            rc = pk_command_env_clear(cmd) == PK_OK ? 0 : die("%s%s", pk_last_error(), "");
        else if (takes_value(name)) {
            const char *value = eq ? eq + 1 : argv[++k];
            rc = apply_valued(name, value, o, cmd);
        } else {
            rc = die("unknown option '%s' (see pk run --help)%s", arg, "");
        }
        if (rc != 0) {
            pk_command_free(cmd);
            return rc;
        }
    }
    *cmd_out = cmd;
    return 0;
}

static int exit_status_of(const pk_run_info *info, int forwarded)
{
    switch (info->outcome) {
    case PK_OUTCOME_TIMED_OUT: return EXIT_TIMEOUT;
    case PK_OUTCOME_CANCELLED: return 128 + (forwarded ? forwarded : SIGKILL);
    case PK_OUTCOME_SIGNALLED: return 128 + info->signal;
    default: return info->exit_code;
    }
}

static const char *outcome_name(int outcome)
{
    switch (outcome) {
    case PK_OUTCOME_EXITED: return "exited";
    case PK_OUTCOME_SIGNALLED: return "signalled";
    case PK_OUTCOME_TIMED_OUT: return "timed_out";
    case PK_OUTCOME_CANCELLED: return "cancelled";
    default: return "running";
    }
}

static void print_json(pk_result *result, const pk_run_info *info, int capture)
{
    FILE *out = stdout;
    fprintf(out, "{\"outcome\":\"%s\",", outcome_name(info->outcome));
    if (info->exit_code >= 0)
        fprintf(out, "\"exit_code\":%d,", (int)info->exit_code);
    else
        fputs("\"exit_code\":null,", out);
    if (info->signal > 0)
        fprintf(out, "\"signal\":%d,", (int)info->signal);
    else
        fputs("\"signal\":null,", out);
    fprintf(out, "\"mechanism\":\"%s\",\"pid\":%d,\"duration_ms\":%.3f", pk_mechanism_name(info->mechanism),
            (int)info->pid, (double)info->duration_us / 1000.0);
    if (capture) {
        for (int s = PK_STREAM_STDOUT; s <= PK_STREAM_STDERR; s++) {
            const uint8_t *data;
            size_t len;
            pk_result_output(result, s, &data, &len);
            fprintf(out, ",\"%s\":", s == PK_STREAM_STDOUT ? "stdout" : "stderr");
            pkcli_json_string(out, data, len);
        }
        fprintf(out, ",\"stdout_truncated\":%s,\"stderr_truncated\":%s", info->stdout_truncated ? "true" : "false",
                info->stderr_truncated ? "true" : "false");
    }
    fputs("}\n", out);
    fflush(out);
}

static void write_all(int fd, const uint8_t *data, size_t len)
{
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* With --json but no --capture, the program's stdout passes through a pipe
 * of pk's, so pk knows whether it ended mid-line and can start the JSON on a
 * line of its own. */
typedef struct passthrough {
    int read_fd;   /* pk's end, -1 when not in use */
    int write_fd;  /* the program's end until it has started */
    int last_byte; /* the last byte forwarded, -1 before any */
} passthrough;

static void forward_output(passthrough *pt, int block)
{
    uint8_t buf[65536];
    while (pt->read_fd >= 0) {
        ssize_t n = read(pt->read_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN && block) {
            struct pollfd p = {.fd = pt->read_fd, .events = POLLIN};
            (void)poll(&p, 1, -1);
            continue;
        }
        if (n <= 0) {
            if (n == 0 || errno != EAGAIN) {
                close(pt->read_fd);
                pt->read_fd = -1;
            }
            return;
        }
        write_all(1, buf, (size_t)n);
        pt->last_byte = buf[n - 1];
    }
}

static int configure(pk_command *cmd, const run_options *o, passthrough *pt)
{
    if (o->cwd) {
        struct stat st;
        if (stat(o->cwd, &st) != 0 || !S_ISDIR(st.st_mode))
            return die("--cwd %s: not a directory%s", o->cwd, "");
        if (pk_command_cwd(cmd, o->cwd) != PK_OK)
            return die("%s%s", pk_last_error(), "");
    }
    int rc = PK_OK;
    if (!o->stdin_spec || strcmp(o->stdin_spec, "-") == 0) {
        rc = pk_command_stdin_inherit(cmd);
    } else if (strcmp(o->stdin_spec, "null") == 0) {
        rc = pk_command_stdin_null(cmd);
    } else {
        int fd = open(o->stdin_spec, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return die("--stdin %s: %s", o->stdin_spec, strerror(errno));
        close(fd);
        rc = pk_command_stdin_file(cmd, o->stdin_spec);
    }
    for (int s = PK_STREAM_STDOUT; s <= PK_STREAM_STDERR && rc == PK_OK; s++) {
        rc = pk_command_output(cmd, s, o->capture ? PK_OUTPUT_CAPTURE : PK_OUTPUT_INHERIT, -1);
        if (rc == PK_OK && o->capture)
            rc = pk_command_output_limit(cmd, s, o->max_output, PK_OVERFLOW_KEEP_HEAD);
    }
    if (rc == PK_OK && o->json && !o->capture) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0)
            return die("pipe: %s%s", strerror(errno), "");
        fcntl(fds[0], F_SETFL, O_NONBLOCK);
        pt->read_fd = fds[0];
        pt->write_fd = fds[1];
        rc = pk_command_output(cmd, PK_STREAM_STDOUT, PK_OUTPUT_FD, fds[1]);
    }
    if (rc == PK_OK && o->timeout_ms)
        rc = pk_command_timeout(cmd, o->timeout_ms, o->signal, o->grace_ms);
    if (rc == PK_OK)
        rc = pk_command_group_options(cmd, &o->group);
    if (rc != PK_OK)
        return die("%s%s", pk_last_error(), "");
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    run_options o;
    memset(&o, 0, sizeof o);
    o.grace_ms = 2000;
    o.signal = SIGTERM;
    o.max_output = 16u << 20;
    pk_group_options defaults = PK_GROUP_OPTIONS_INIT;
    o.group = defaults;
    pk_command *cmd = NULL;
    int rc = parse_run(argc, argv, &o, &cmd);
    if (rc != 0)
        return rc;
    passthrough pt = {.read_fd = -1, .write_fd = -1, .last_byte = -1};
    rc = configure(cmd, &o, &pt);
    if (rc != 0) {
        pk_command_free(cmd);
        return rc;
    }

    /* Signals meant for pk go to the tree instead; they arrive on a signalfd,
     * and the library gives each child an empty mask of its own. */
    sigset_t forward;
    sigemptyset(&forward);
    sigaddset(&forward, SIGINT);
    sigaddset(&forward, SIGTERM);
    sigaddset(&forward, SIGHUP);
    sigprocmask(SIG_BLOCK, &forward, NULL);
    int sigfd = signalfd(-1, &forward, SFD_CLOEXEC | SFD_NONBLOCK);

    pk_loop *loop = NULL;
    pk_process *proc = NULL;
    if (pk_loop_new(&loop) != PK_OK) {
        pk_command_free(cmd);
        return die("%s%s", pk_last_error(), "");
    }
    int start = pk_loop_start(loop, cmd, NULL, &proc);
    if (start != PK_OK)
        fprintf(stderr, "pk: %s\n", pk_last_error());
    pk_command_free(cmd);
    if (pt.write_fd >= 0) {
        close(pt.write_fd); /* the program holds its own copy */
        pt.write_fd = -1;
    }
    if (start != PK_OK) {
        pk_loop_free(loop);
        return start == PK_ERR_NOT_FOUND ? EXIT_NOT_FOUND
               : start == PK_ERR_PERMISSION ? EXIT_NOT_EXECUTABLE
                                            : EXIT_PK_ERROR;
    }

    int loop_fd = -1, forwarded = 0;
    uint64_t teardown_at = 0;
    pk_loop_fd(loop, &loop_fd);
    int32_t done = 0;
    while (!done) {
        struct pollfd fds[3] = {{.fd = loop_fd, .events = POLLIN},
                                {.fd = sigfd, .events = POLLIN},
                                {.fd = pt.read_fd, .events = POLLIN}};
        int timeout = -1;
        if (teardown_at) {
            uint64_t now = now_ms();
            timeout = now >= teardown_at ? 0 : (int)(teardown_at - now);
        }
        (void)poll(fds, 3, timeout);
        if (fds[2].revents)
            forward_output(&pt, 0);
        if (sigfd >= 0 && (fds[1].revents & POLLIN)) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
                forwarded = (int)si.ssi_signo;
                pk_process_signal(proc, forwarded);
                if (!teardown_at)
                    teardown_at = now_ms() + o.grace_ms;
            }
        }
        if (teardown_at && now_ms() >= teardown_at) {
            pk_process_cancel(proc);
            teardown_at = 0;
        }
        pk_loop_run_once(loop, 0);
        pk_process_done(proc, &done);
    }

    /* The tree is gone, so the pass-through pipe reaches its end now. */
    forward_output(&pt, 1);

    pk_result *result = NULL;
    pk_run_info info = PK_RUN_INFO_INIT;
    if (pk_process_result(proc, &result) != PK_OK || pk_result_info(result, &info) != PK_OK) {
        fprintf(stderr, "pk: %s\n", pk_last_error());
        rc = EXIT_PK_ERROR;
    } else {
        if (o.capture && !o.json) {
            const uint8_t *data;
            size_t len;
            pk_result_output(result, PK_STREAM_STDOUT, &data, &len);
            write_all(1, data, len);
            pk_result_output(result, PK_STREAM_STDERR, &data, &len);
            write_all(2, data, len);
        }
        if (o.json) {
            if (pt.last_byte >= 0 && pt.last_byte != '\n')
                write_all(1, (const uint8_t *)"\n", 1);
            print_json(result, &info, o.capture);
        }
        rc = exit_status_of(&info, forwarded);
        pk_result_free(result);
    }
    pk_process_free(proc);
    pk_loop_free(loop);
    if (sigfd >= 0)
        close(sigfd);
    return rc;
}

static void probe_line(FILE *out, int json, const char *name, int backend, int *first)
{
    pk_containment c = PK_CONTAINMENT_INIT;
    pk_host_probe(backend, &c);
    int available = c.mechanism != PK_MECHANISM_NONE;
    if (json) {
        fprintf(out, "%s{\"name\":\"%s\",\"available\":%s,\"reason\":", *first ? "" : ",", name,
                available ? "true" : "false");
        pkcli_json_string(out, (const uint8_t *)c.reason, strlen(c.reason));
        fputc('}', out);
    } else {
        fprintf(out, "  %-14s %s%s%s\n", name, available ? "available" : "unavailable", c.reason[0] ? ": " : "",
                c.reason);
    }
    *first = 0;
}

static int cmd_probe(int argc, char **argv)
{
    int json = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else
            return die("unknown option '%s' for probe%s", argv[i], "");
    }
    pk_containment c = PK_CONTAINMENT_INIT;
    if (pk_host_probe(PK_BACKEND_AUTO, &c) != PK_OK)
        return die("%s%s", pk_last_error(), "");
    const uint32_t limit_bits = PK_FEATURE_LIMIT_MEMORY | PK_FEATURE_LIMIT_PIDS | PK_FEATURE_LIMIT_CPU;
    FILE *out = stdout;
    int first = 1;
    if (json) {
        fprintf(out, "{\"mechanism\":\"%s\",\"reason\":", pk_mechanism_name(c.mechanism));
        pkcli_json_string(out, (const uint8_t *)c.reason, strlen(c.reason));
        fputs(",\"backends\":[", out);
        probe_line(out, 1, "cgroup-v2", PK_BACKEND_CGROUP_V2, &first);
        probe_line(out, 1, "process-group", PK_BACKEND_PROCESS_GROUP, &first);
        probe_line(out, 1, "job-object", PK_BACKEND_JOB_OBJECT, &first);
        fputs("],\"cgroup2_mount\":", out);
        if (c.cgroup_mount[0])
            pkcli_json_string(out, (const uint8_t *)c.cgroup_mount, strlen(c.cgroup_mount));
        else
            fputs("null", out);
        fprintf(out,
                ",\"limits\":{\"memory\":%s,\"pids\":%s,\"cpu\":%s},\"contains_setsid\":%s,\"version\":\"%s\"}\n",
                (c.features & PK_FEATURE_LIMIT_MEMORY) ? "true" : "false",
                (c.features & PK_FEATURE_LIMIT_PIDS) ? "true" : "false",
                (c.features & PK_FEATURE_LIMIT_CPU) ? "true" : "false",
                (c.features & PK_FEATURE_CONTAINS_SETSID) ? "true" : "false", pk_version_string());
    } else {
        fprintf(out, "mechanism: %s%s%s\n", pk_mechanism_name(c.mechanism), c.reason[0] ? " (" : "", c.reason);
        if (c.reason[0])
            fputs(")\n", out);
        fputs("backends:\n", out);
        probe_line(out, 0, "cgroup-v2", PK_BACKEND_CGROUP_V2, &first);
        probe_line(out, 0, "process-group", PK_BACKEND_PROCESS_GROUP, &first);
        probe_line(out, 0, "job-object", PK_BACKEND_JOB_OBJECT, &first);
        fprintf(out, "cgroup2 mount: %s\n", c.cgroup_mount[0] ? c.cgroup_mount : "none");
        fprintf(out, "limits: %s\n",
                (c.features & limit_bits) == limit_bits ? "enforceable"
                : (c.features & limit_bits)              ? "partly enforceable"
                                                         : "not enforceable on this host");
        fprintf(out, "setsid escapes contained: %s\n", (c.features & PK_FEATURE_CONTAINS_SETSID) ? "yes" : "no");
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_PK_ERROR;
    }
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(argc, argv);
    if (strcmp(argv[1], "probe") == 0)
        return cmd_probe(argc, argv);
    if (strcmp(argv[1], "--version") == 0) {
        printf("pk %s\n", pk_version_string());
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "pk: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_PK_ERROR;
}
