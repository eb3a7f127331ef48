/* pk: run a command inside a kill-on-free container, or report what
 * containment this host offers.
 *
 *   pk run [OPTIONS] -- PROGRAM [ARG...]
 *   pk pipe [OPTIONS] -- CMD [ARG...] '|' CMD [ARG...] ...   (pk_pipe.c)
 *   pk supervise [OPTIONS] -- PROGRAM [ARG...]                (pk_supervise.c)
 *   pk timeout [OPTION]... DURATION COMMAND [ARG...]          (pk_timeout.c)
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
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "json_out.h"
#include "pk_cli.h"
#include "processkit.h"

void pkcli_usage(FILE *out)
{
    fputs("usage: pk run [OPTIONS] -- PROGRAM [ARG...]\n"
          "       pk pipe [OPTIONS] -- PROGRAM [ARG...] '|' PROGRAM [ARG...] ['|' ...]\n"
          "       pk supervise [OPTIONS] -- PROGRAM [ARG...]\n"
          "       pk timeout [OPTION]... DURATION COMMAND [ARG...]\n"
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
          "  --no-window        Windows: CREATE_NO_WINDOW (no console window); no effect elsewhere\n"
          "  --stdin PATH|-|null  default: inherit (-)\n"
          "  --memory-max BYTES --pids-max N --cpu-max CORES\n"
          "                     limits; if this host cannot enforce one, exit 125 and run nothing\n"
          "  --pty              run on a new pseudo-terminal (pk's size, else 24x80); its output\n"
          "                     is pk's stdout, and --stdin (default pk's stdin) is typed into it\n"
          "  --ready-line REGEX wait until a stdout or stderr line matches (POSIX ERE), then\n"
          "                     print \"pk: ready\" on stderr and keep running\n"
          "  --ready-port N     wait until 127.0.0.1:N accepts a connection, likewise\n"
          "  --ready-timeout DUR  default 30s; not ready in time: tear down, exit 125\n"
          "  --retry N          run up to N times while the run fails (cancellation ends it)\n"
          "  --retry-backoff DUR  delay before the second attempt (default 100ms), doubling,\n"
          "                     at most 30s, with jitter\n"
          "\n"
          "pk pipe: stages separated by a lone '|' argument (quote it in the shell); takes\n"
          "  --timeout --grace --signal --backend --capture --json --max-output --cwd --env\n"
          "  --unset --clear-env --stdin and the limits. Status: the first failed stage's\n"
          "  (pipefail; a producer killed by SIGPIPE has not failed).\n"
          "\n"
          "pk supervise options (and --timeout --grace --signal --backend --cwd --env --unset\n"
          "  --clear-env --stdin and the limits, per run):\n"
          "  --restart POLICY   on-failure (default) | always | never\n"
          "  --max-restarts N   restart at most N times; with --window: give up when N\n"
          "                     restarts fall within DUR (no total cap)\n"
          "  --window DUR       the storm guard's window\n"
          "  --backoff DUR      delay before the first restart (default 200ms), doubling to 30s\n"
          "\n"
          "pk timeout: GNU timeout's command line (-s SIG, -k DUR, --preserve-status,\n"
          "  --foreground, -v), but COMMAND's whole tree gets the signal and dies with it;\n"
          "  --no-tree for GNU's process-group behaviour. See pk timeout --help.\n"
          "\n"
          "Exit status: the program's; 128+N if signal N killed it; 124 on timeout;\n"
          "125 for pk's own errors; 126 if not executable; 127 if not found.\n",
          out);
}

/* ------------------------------------------------------------------ run */

typedef struct run_state {
    pkcli_options o;
    pk_process *proc;
    pkcli_passthrough pt;
    pkcli_relay relay[3]; /* [1] stdout, [2] stderr, when the library reads them for pk */
    int relaying;
    int tty_fd;           /* the terminal whose size a --pty run follows, or -1 */
    int in_fd;            /* --pty: what is typed into the terminal, or -1 */
    int in_owned;         /* in_fd was opened by pk */
    int in_last_byte;
    int raw;              /* pk's own terminal is in raw mode */
    struct termios saved;
} run_state;

/* pk's terminal size (stdin, stdout or stderr): the fd, or -1 and 24x80. */
static int terminal_size(uint16_t *rows, uint16_t *cols)
{
    for (int fd = 0; fd <= 2; fd++) {
        struct winsize ws;
        if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
            *rows = ws.ws_row;
            *cols = ws.ws_col;
            return fd;
        }
    }
    *rows = 24;
    *cols = 80;
    return -1;
}

static int is_dev_null(int fd)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat("/dev/null", &b) == 0 && S_ISCHR(a.st_mode) && a.st_rdev == b.st_rdev;
}

/* Where a --pty run's input comes from: --stdin PATH, nothing for null, or
 * pk's own stdin unless that is /dev/null or closed. A terminal of pk's
 * goes raw, so keystrokes reach the program's terminal as typed. */
static int open_pty_input(run_state *s)
{
    const char *spec = s->o.stdin_spec;
    s->in_fd = -1;
    if (spec && strcmp(spec, "null") == 0)
        return 0;
    if (spec && strcmp(spec, "-") != 0) {
        s->in_fd = open(spec, O_RDONLY | O_CLOEXEC);
        if (s->in_fd < 0)
            return pkcli_die("--stdin %s: %s", spec, strerror(errno));
        s->in_owned = 1;
        return 0;
    }
    if (fcntl(0, F_GETFD) < 0 || is_dev_null(0))
        return 0;
    s->in_fd = 0;
    if (isatty(0) && tcgetattr(0, &s->saved) == 0) {
        struct termios raw = s->saved;
        cfmakeraw(&raw);
        if (tcsetattr(0, TCSANOW, &raw) == 0)
            s->raw = 1;
    }
    return 0;
}

static void close_pty_input(run_state *s)
{
    if (s->raw) {
        tcsetattr(0, TCSANOW, &s->saved);
        s->raw = 0;
    }
    if (s->in_owned && s->in_fd >= 0)
        close(s->in_fd);
    s->in_fd = -1;
    s->in_owned = 0;
}

/* Streams: captured, relayed through line callbacks (--pty or --ready-line
 * without --capture), or inherited (through pk's pipe with --json). */
static int configure(pk_command *cmd, run_state *s)
{
    const pkcli_options *o = &s->o;
    int rc = PK_OK;
    if (o->pty) {
        uint16_t rows, cols;
        s->tty_fd = terminal_size(&rows, &cols);
        rc = pk_command_pty(cmd, rows, cols);
        if (rc == PK_OK && !o->capture) {
            s->relaying = 1;
            rc = pk_command_on_line(cmd, PK_STREAM_STDOUT, pkcli_relay_line, &s->relay[1]);
        }
        if (rc == PK_OK)
            rc = pk_command_output_limit(cmd, PK_STREAM_STDOUT, o->capture ? o->max_output : 1,
                                         PK_OVERFLOW_KEEP_HEAD);
    } else {
        int status = pkcli_command_stdin(cmd, o);
        if (status != 0)
            return status;
        int relay = o->ready_line && !o->capture;
        s->relaying = relay;
        for (int st = PK_STREAM_STDOUT; st <= PK_STREAM_STDERR && rc == PK_OK; st++) {
            int capture = o->capture || relay;
            rc = pk_command_output(cmd, st, capture ? PK_OUTPUT_CAPTURE : PK_OUTPUT_INHERIT, -1);
            /* Relayed output is read line by line; one kept byte keeps memory flat. */
            if (rc == PK_OK && capture)
                rc = pk_command_output_limit(cmd, st, relay ? 1 : o->max_output, PK_OVERFLOW_KEEP_HEAD);
            if (rc == PK_OK && relay)
                rc = pk_command_on_line(cmd, st, pkcli_relay_line, &s->relay[st]);
        }
        if (rc == PK_OK && o->json && !o->capture && !relay) {
            if (pkcli_passthrough_open(&s->pt) != 0)
                return EXIT_PK_ERROR;
            rc = pk_command_output(cmd, PK_STREAM_STDOUT, PK_OUTPUT_FD, s->pt.write_fd);
        }
    }
    if (rc == PK_OK && o->timeout_ms)
        rc = pk_command_timeout(cmd, o->timeout_ms, o->signal, o->grace_ms);
    if (rc != PK_OK)
        return pkcli_die("%s", pk_last_error());
    return 0;
}

static void on_winch(void *user)
{
    run_state *s = user;
    struct winsize ws;
    if (s->tty_fd >= 0 && ioctl(s->tty_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
        pk_process_resize(s->proc, ws.ws_row, ws.ws_col);
}

static void forward_signal(void *user, int sig)
{
    pk_process_signal(((run_state *)user)->proc, sig);
}

static void cancel_run(void *user)
{
    pk_process_cancel(((run_state *)user)->proc);
}

/* Types what arrived on the input into the terminal; at its end, the
 * terminal's end-of-file character (twice after a partial line), so a
 * program reading lines sees the end of its input. */
static void pump_pty_input(run_state *s)
{
    char buf[4096];
    ssize_t n = read(s->in_fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n > 0) {
        if (pk_process_write(s->proc, buf, (size_t)n) != PK_OK)
            close_pty_input(s);
        else
            s->in_last_byte = (unsigned char)buf[n - 1];
        return;
    }
    if (s->in_last_byte >= 0 && s->in_last_byte != '\n')
        pk_process_write(s->proc, "\x04", 1);
    pk_process_write(s->proc, "\x04", 1);
    pk_process_close_stdin(s->proc);
    close_pty_input(s);
}

/* Waits for --ready-line and then --ready-port, both within
 * --ready-timeout, while a thread takes signals. Returns 1 when ready, 0
 * when not (message printed), -1 when a signal came first. */
static int wait_ready(run_state *s, int sigfd, int *forwarded, uint64_t *teardown_at)
{
    pkcli_watch w = {.sigfd = sigfd,
                     .pt = s->pt.read_fd >= 0 ? &s->pt : NULL,
                     .on_signal = forward_signal,
                     .on_grace = cancel_run,
                     .on_winch = on_winch,
                     .user = s,
                     .grace_ms = s->o.grace_ms};
    if (pkcli_watch_start(&w) != 0)
        return 0;
    uint64_t start = pkcli_now_ms();
    int32_t budget = (int32_t)s->o.ready_timeout_ms;
    int rc = PK_OK;
    if (s->o.ready_line)
        rc = pk_process_wait_for_line(s->proc, 0, s->o.ready_line, PK_MATCH_REGEX, budget);
    if (rc == PK_OK && s->o.ready_port) {
        uint64_t spent = pkcli_now_ms() - start;
        int32_t left = spent >= (uint64_t)budget ? 0 : budget - (int32_t)spent;
        rc = pk_process_wait_for_port(s->proc, (uint16_t)s->o.ready_port, left);
    }
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", pk_last_error());
    pkcli_watch_stop(&w);
    *forwarded = w.forwarded;
    *teardown_at = w.grace_at;
    if (w.forwarded)
        return -1;
    if (rc == PK_OK) {
        fputs("pk: ready\n", stderr);
        return 1;
    }
    fprintf(stderr, "pk: not ready: %s\n", msg);
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    run_state s;
    memset(&s, 0, sizeof s);
    s.pt = (pkcli_passthrough)PKCLI_PASSTHROUGH_INIT;
    s.tty_fd = s.in_fd = -1;
    s.in_last_byte = -1;
    pkcli_relay_init(&s.relay[1], 1);
    pkcli_relay_init(&s.relay[2], 2);
    pkcli_options_init(&s.o, PKCLI_RUN, "run");
    pk_command *cmd = NULL;
    int rc = pkcli_parse(argc, argv, &s.o);
    if (rc == 0)
        rc = pkcli_command_new(argv + s.o.prog, argc - s.o.prog, &s.o, &cmd);
    if (rc == 0)
        rc = configure(cmd, &s);
    if (rc == 0 && s.o.pty)
        rc = open_pty_input(&s);
    if (rc != 0) {
        close_pty_input(&s);
        pk_command_free(cmd);
        pkcli_options_free(&s.o);
        return rc;
    }

    /* Signals meant for pk go to the tree instead; they arrive on a signalfd,
     * and the library gives each child an empty mask of its own. */
    int sigfd = pkcli_signals_block(s.o.pty && s.tty_fd >= 0);

    if (s.o.retry) {
        rc = pkcli_run_retry(cmd, &s.o, &s.pt, sigfd);
        pk_command_free(cmd);
        pkcli_options_free(&s.o);
        if (sigfd >= 0)
            close(sigfd);
        return rc;
    }

    pk_loop *loop = NULL;
    if (pk_loop_new(&loop) != PK_OK) {
        rc = pkcli_die("%s", pk_last_error());
        close_pty_input(&s);
        pk_command_free(cmd);
        pkcli_options_free(&s.o);
        return rc;
    }
    int start = pk_loop_start(loop, cmd, NULL, &s.proc);
    if (start != PK_OK)
        fprintf(stderr, "pk: %s\n", pk_last_error());
    pk_command_free(cmd);
    pkcli_passthrough_close_writer(&s.pt); /* the program holds its own copy */
    if (start != PK_OK) {
        close_pty_input(&s);
        pk_loop_free(loop);
        pkcli_options_free(&s.o);
        return pkcli_start_failure(start);
    }

    int forwarded = 0, not_ready = 0;
    uint64_t teardown_at = 0;
    if (s.o.ready_line || s.o.ready_port) {
        int ready = wait_ready(&s, sigfd, &forwarded, &teardown_at);
        if (ready == 0) {
            /* Tear the tree down: --signal, then SIGKILL after --grace. */
            not_ready = 1;
            pk_process_signal(s.proc, s.o.signal);
            teardown_at = pkcli_now_ms() + s.o.grace_ms;
            close_pty_input(&s);
        }
    }

    int loop_fd = -1;
    pk_loop_fd(loop, &loop_fd);
    int32_t done = 0;
    pk_process_done(s.proc, &done);
    while (!done) {
        struct pollfd fds[4] = {{.fd = loop_fd, .events = POLLIN},
                                {.fd = sigfd, .events = POLLIN},
                                {.fd = s.pt.read_fd, .events = POLLIN},
                                {.fd = s.in_fd, .events = POLLIN}};
        int timeout = -1;
        if (teardown_at) {
            uint64_t now = pkcli_now_ms();
            timeout = now >= teardown_at ? 0 : (int)(teardown_at - now);
        }
        (void)poll(fds, 4, timeout);
        if (fds[2].revents)
            pkcli_passthrough_forward(&s.pt, 0);
        if (s.in_fd >= 0 && fds[3].revents)
            pump_pty_input(&s);
        if (sigfd >= 0 && (fds[1].revents & POLLIN)) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (si.ssi_signo == SIGWINCH) {
                    on_winch(&s);
                    continue;
                }
                forwarded = (int)si.ssi_signo;
                pk_process_signal(s.proc, forwarded);
                if (!teardown_at)
                    teardown_at = pkcli_now_ms() + s.o.grace_ms;
            }
        }
        if (teardown_at && pkcli_now_ms() >= teardown_at) {
            pk_process_cancel(s.proc);
            teardown_at = 0;
        }
        pk_loop_run_once(loop, 0);
        pk_process_done(s.proc, &done);
    }
    close_pty_input(&s);

    /* The tree is gone, so the pass-through pipe reaches its end now. */
    pkcli_passthrough_forward(&s.pt, 1);

    pk_result *result = NULL;
    pk_run_info info = PK_RUN_INFO_INIT;
    if (pk_process_result(s.proc, &result) != PK_OK || pk_result_info(result, &info) != PK_OK) {
        rc = pkcli_die("%s", pk_last_error());
    } else {
        int last_byte = s.relaying ? s.relay[1].last_byte : s.pt.last_byte;
        if (s.o.capture && !s.o.json)
            pkcli_replay_capture(result);
        if (s.o.json) {
            if (last_byte >= 0 && last_byte != '\n')
                pkcli_write_all(1, "\n", 1);
            pkcli_json_open(stdout, result, &info, s.o.capture);
            fputs("}\n", stdout);
            fflush(stdout);
        }
        rc = not_ready ? EXIT_PK_ERROR : pkcli_exit_status(&info, forwarded);
        pk_result_free(result);
    }
    pk_process_free(s.proc);
    pk_loop_free(loop);
    if (sigfd >= 0)
        close(sigfd);
    pkcli_options_free(&s.o);
    return rc;
}

/* ---------------------------------------------------------------- probe */

int main(int argc, char **argv)
{
    if (argc < 2) {
        pkcli_usage(stderr);
        return EXIT_PK_ERROR;
    }
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(argc, argv);
    if (strcmp(argv[1], "pipe") == 0)
        return pkcli_cmd_pipe(argc, argv);
    if (strcmp(argv[1], "supervise") == 0)
        return pkcli_cmd_supervise(argc, argv);
    if (strcmp(argv[1], "timeout") == 0)
        return pkcli_cmd_timeout(argc, argv);
    if (strcmp(argv[1], "probe") == 0)
        return pkcli_cmd_probe(argc, argv);
    if (strcmp(argv[1], "--version") == 0) {
        printf("pk %s\n", pk_version_string());
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        pkcli_usage(stdout);
        return 0;
    }
    fprintf(stderr, "pk: unknown command '%s'\n", argv[1]);
    pkcli_usage(stderr);
    return EXIT_PK_ERROR;
}
