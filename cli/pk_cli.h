/* What pk's subcommands share: exit statuses, options, output relays,
 * signal handling and the JSON report. pk.c holds `run` and `probe`;
 * pk_retry.c, pk_pipe.c, pk_supervise.c and pk_timeout.c the rest. */
#ifndef PK_CLI_H
#define PK_CLI_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "processkit.h"

#ifndef SIGKILL
#define SIGKILL 9 /* the ABI's number; mingw's <signal.h> lacks it */
#endif

#define EXIT_TIMEOUT 124
#define EXIT_PK_ERROR 125
#define EXIT_NOT_EXECUTABLE 126
#define EXIT_NOT_FOUND 127

/* Which subcommands accept an option. */
enum { PKCLI_RUN = 1u << 0, PKCLI_PIPE = 1u << 1, PKCLI_SUPERVISE = 1u << 2 };

typedef struct pkcli_options {
    unsigned sub;    /* PKCLI_RUN, PKCLI_PIPE or PKCLI_SUPERVISE */
    const char *sub_name;
    uint32_t timeout_ms, grace_ms;
    int signal;
    int capture, json;
    uint64_t max_output;
    const char *cwd;
    const char *stdin_spec; /* NULL or "-" = inherit */
    pk_group_options group;
    int clear_env;
    const char **env_ops; /* "--env" and "--unset" values in order, each prefixed 'E' or 'U' */
    char **env_storage;
    size_t env_count;
    /* run */
    int pty;
    int no_window; /* Windows: CREATE_NO_WINDOW */
    const char *ready_line;
    uint32_t ready_port;
    uint32_t ready_timeout_ms;
    int ready_timeout_set;
    uint32_t retry; /* max attempts; 0 = no --retry */
    uint32_t retry_backoff_ms;
    int retry_backoff_set;
    /* supervise */
    int restart;
    uint32_t max_restarts;
    uint32_t window_ms;
    uint32_t backoff_ms;
    int max_restarts_set, window_set;
    /* argv[prog..argc-1] is the program (or the pipeline) */
    int prog;
} pkcli_options;

/* Triggers a cancellation token when pk is asked to stop: SIGINT, SIGTERM
 * or SIGHUP on POSIX (pk_posix.c), a console event on Windows
 * (pk_windows.c). */
typedef struct pkcli_stop_trigger {
    pk_cancel *token;
    int sigfd;       /* POSIX */
    void *watch;     /* POSIX: the signal thread */
} pkcli_stop_trigger;
int pkcli_stop_trigger_start(pkcli_stop_trigger *t, pk_cancel *token);
/* Stops watching; returns the signal that triggered the token (the Linux
 * number of the console event on Windows), 0 if none did. */
int pkcli_stop_trigger_end(pkcli_stop_trigger *t);

/* "pk: " + the message + newline on stderr; returns EXIT_PK_ERROR. */
#ifdef __MINGW32__
int pkcli_die(const char *fmt, ...) __attribute__((format(gnu_printf, 1, 2)));
#else
int pkcli_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#endif
/* The usage text (pk.c). */
void pkcli_usage(FILE *out);
/* `pk probe` (pk_probe.c) and `pk supervise` (pk_supervise.c). */
int pkcli_cmd_probe(int argc, char **argv);
int pkcli_cmd_supervise(int argc, char **argv);

/* Defaults for a subcommand, then argv[2..] up to the program. Returns 0,
 * or an exit status after printing the error (--help prints the usage and
 * exits 0). */
void pkcli_options_init(pkcli_options *o, unsigned sub, const char *sub_name);
int pkcli_parse(int argc, char **argv, pkcli_options *o);
void pkcli_options_free(pkcli_options *o);

/* A command for words[0..count-1] with the environment, cwd and group
 * options applied. Returns 0 or EXIT_PK_ERROR (message printed). */
int pkcli_command_new(char *const *words, int count, const pkcli_options *o, pk_command **out);
/* stdin from --stdin (default: pk's own). */
int pkcli_command_stdin(pk_command *cmd, const pkcli_options *o);

/* The exit status of a finished run: its code; 128+N for a signal; 124 for
 * a timeout; a cancelled run 128+forwarded (SIGKILL when nothing was). */
int pkcli_exit_status(const pk_run_info *info, int forwarded);
/* The exit status for a failure to start (127, 126 or 125). */
int pkcli_start_failure(int rc);
const char *pkcli_outcome_name(int outcome);
/* "exited with code 3", "killed by signal 9 (KILL)", "timed out", "cancelled". */
void pkcli_describe(const pk_run_info *info, char *buf, size_t len);

/* `--retry`: the options it means, and the classifier that says so on
 * stderr before each retry ("pk: attempt 1 of 3 exited with code 1;
 * retrying") and counts the attempts. */
typedef struct pkcli_retry_state {
    uint32_t max_attempts;
    uint32_t attempts; /* attempts made so far that are known to have ended */
} pkcli_retry_state;
void pkcli_retry_setup(const pkcli_options *o, pk_retry_options *opts, pkcli_retry_state *st);
int pkcli_retry_classify(void *user, pk_result *result, uint32_t attempt); /* a pk_retry_fn */

/* The run report's fields, "{" included but not the closing "}". */
void pkcli_json_open(FILE *out, pk_result *result, const pk_run_info *info, int capture);
/* Captured stdout to fd 1 and stderr to fd 2. */
void pkcli_replay_capture(pk_result *result);

void pkcli_write_all(int fd, const void *data, size_t len);
uint64_t pkcli_now_ms(void);

/* With --json but no --capture, the program's stdout passes through a pipe
 * of pk's, so pk knows whether it ended mid-line and can start the JSON on a
 * line of its own. */
typedef struct pkcli_passthrough {
    int read_fd;   /* pk's end, -1 when not in use */
    int write_fd;  /* the program's end until it has started */
    int last_byte; /* the last byte forwarded, -1 before any */
} pkcli_passthrough;
#define PKCLI_PASSTHROUGH_INIT {-1, -1, -1}
int pkcli_passthrough_open(pkcli_passthrough *pt);
void pkcli_passthrough_forward(pkcli_passthrough *pt, int block);
void pkcli_passthrough_close_writer(pkcli_passthrough *pt);

/* Output that the library reads (to watch its lines) but that should still
 * reach pk's stdout or stderr: a line callback writes each line with its
 * newline as soon as it is complete. A last line without a newline (which
 * the library delivers at the end of the stream) gains one. */
typedef struct pkcli_relay {
    int fd;
    int last_byte;
} pkcli_relay;
void pkcli_relay_init(pkcli_relay *r, int fd);
void pkcli_relay_line(void *user, int32_t stream, const char *line, size_t len); /* a pk_line_fn */

#ifndef _WIN32
/* Blocks SIGINT, SIGTERM, SIGHUP (and SIGWINCH when asked) in pk (the
 * library gives each child an empty mask) and returns a signalfd for them. */
int pkcli_signals_block(int with_winch);

/* A thread that takes pk's signals (and pumps a pass-through pipe) while
 * the main thread is inside a blocking library call. */
typedef struct pkcli_watch {
    int sigfd;
    pkcli_passthrough *pt; /* optional */
    void (*on_signal)(void *user, int sig);  /* SIGINT, SIGTERM, SIGHUP */
    void (*on_grace)(void *user);            /* grace_ms after the first signal; optional */
    void (*on_winch)(void *user);            /* optional */
    void *user;
    uint32_t grace_ms;
    /* Read after pkcli_watch_stop(): */
    int forwarded;     /* the last signal received, 0 if none */
    uint64_t grace_at; /* pkcli_now_ms() deadline not yet reached, 0 if none */
    /* private */
    int stop_fd;
    int grace_fired;
    pthread_t thread;
    int started;
} pkcli_watch;
int pkcli_watch_start(pkcli_watch *w);
void pkcli_watch_stop(pkcli_watch *w);

/* Subcommands. */
int pkcli_cmd_pipe(int argc, char **argv);
/* `pk timeout`, GNU timeout(1)'s command line (pk_timeout.c). */
int pkcli_cmd_timeout(int argc, char **argv);
/* `pk run --retry`: cmd is configured; pt is the pass-through (or unused). */
int pkcli_run_retry(pk_command *cmd, const pkcli_options *o, pkcli_passthrough *pt, int sigfd);
#endif

#endif
