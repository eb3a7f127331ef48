/* The event loop and the runs on it. On Linux one epoll set holds every
 * pipe, pidfd, timerfd and cancellation fd of every run, so a single thread
 * drives any number of processes with no thread per child, no polling and no
 * SIGCHLD (loop_linux.c). On Windows the loop waits on handles: overlapped
 * pipe reads and writes, process handles and cancellation events
 * (loop_windows.c). The internal API below is the same on both. */
#ifndef PK_LOOP_H
#define PK_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#ifndef _WIN32
#include <regex.h>
#endif

#include "child.h"
#include "command.h"
#include "group.h"
#include "handle.h"
#include "output.h"

typedef struct pk_result_obj {
    pk_object obj;
    pk_run_info info;
    pk_run_info *stages; /* pipelines: one per stage; NULL for a single run */
    uint8_t *data[3];
    size_t len[3];
    char *program;
    uint32_t timeout_ms;
} pk_result_obj;

struct pk_process_obj;

#ifdef _WIN32
/* One overlapped pipe end of a run. */
typedef struct pk_win_stream {
    void *pipe;        /* our end, or NULL */
    void *event;       /* the OVERLAPPED's event */
    void *overlapped;  /* OVERLAPPED, allocated: it must not move while I/O is pending */
    uint8_t *buf;      /* read buffer, or stdin's bytes in flight */
    int pending;       /* an operation is in flight */
    int closing;       /* stdin: close once the loop's current wait is over */
} pk_win_stream;
#else
/* What an epoll event points at. */
typedef struct pk_watch {
    int kind;
    struct pk_process_obj *proc;
} pk_watch;
#endif

typedef struct pk_loop_obj {
    pk_object obj;
    pthread_mutex_t lock; /* recursive: callbacks may call back into the loop */
    struct pk_process_obj **procs; /* runs not yet finished, each referenced */
    size_t count, cap;
    int in_dispatch;
    int closed;
    int closing;          /* pk_loop_free has begun: other threads' waits end with PK_ERR_HANDLE */
    atomic_uint wakes;    /* pk_loop_wake calls no call has taken yet: the next wait or run_once does */
    int waiters;          /* threads inside pk__loop_run_once, other than the one freeing */
    pthread_t closer;     /* the thread freeing the loop, once closing */
#ifdef _WIN32
    void *wake_event;     /* auto-reset: another thread asked for attention */
    int waiting;          /* a thread is inside WaitForMultipleObjects on the handles */
    size_t rotate;        /* where the next wait starts when handles exceed one wait's 64 */
#else
    int epfd;
    int wakefd;           /* eventfd: another thread asked for attention */
    pk_watch wake_watch;
#endif
} pk_loop_obj;

typedef struct pk_process_obj {
    pk_object obj;
    pk_loop_obj *loop; /* referenced */
    pk_command_plan plan;
    pk_group_obj *group; /* referenced */
    int private_group;
    pk_child_obj *child; /* referenced */
    int32_t pid;
    int mechanism;
    int merged;          /* stderr shares the stdout pipe */
    pk_capture cap[3];
    pk_lines lines[3];
    uint8_t *in_buf;
    size_t in_len, in_off, in_alloc;
    int in_close;        /* close stdin once in_buf is written */
    atomic_int cancel_requested;
    int exited;
    atomic_int done;
    int timed_out;
    pk_exit_status status;
    uint64_t start_ns, end_ns;
    uint64_t timeout_at, grace_at, drain_at; /* monotonic ns, 0 = unset */
    pk_result_obj *result;
    /* A readiness probe in progress (pk_process_wait_for_line). */
    struct {
        int active, matched, stream, use_regex;
        const char *substring;
#ifndef _WIN32
        regex_t regex;
#endif
    } probe;
    char seen[6][160]; /* the last lines a probe looked at, for its error */
    unsigned seen_count;
    pk_readiness_info readiness; /* the last probe's outcome (pk_process_readiness) */
#ifdef _WIN32
    pk_win_stream io[3]; /* our ends: stdin (write), stdout, stderr (read) */
    void *cancel_event;  /* a duplicate of the token's event */
#else
    int fd[3];           /* our ends: stdin (write), stdout, stderr (read); -1 = none */
    int timer_fd;
    int cancel_fd;       /* a dup of the token's eventfd: epoll takes each fd once */
    int pty_master;      /* PTY runs: the master (also fd[1]); -1 otherwise */
    pk_watch watch[6];
#endif
} pk_process_obj;

/* Fds a run takes instead of its command's stdin/stdout (pipelines). */
typedef struct pk_start_overrides {
    int stdin_fd;  /* -1 = the command's own */
    int stdout_fd; /* -1 = the command's own */
} pk_start_overrides;

int pk__loop_create(pk_loop_obj **out);
/* Each OS's waitables of a loop (an epoll set and an eventfd, or an event):
 * made by pk__loop_create (run_start.c), closed when the loop is destroyed. */
int pk__loop_os_open(pk_loop_obj *loop);
void pk__loop_os_close(pk_loop_obj *loop);
/* Finishes every run on the loop (killing what still runs) and closes it. */
void pk__loop_close(pk_loop_obj *loop);
int pk__loop_start(pk_loop_obj *loop, pk_command_obj *cmd, pk_group_obj *group, const pk_start_overrides *ov,
                   pk_process_obj **out);
int pk__loop_run_once(pk_loop_obj *loop, int timeout_ms);
/* For pk_loop_free, before pk__loop_close: refuses new waits from other
 * threads, wakes the ones blocked in the loop and returns once they have
 * left, so nothing they hold is freed under them. */
void pk__loop_begin_close(pk_loop_obj *loop);
/* Bracket every pk__loop_run_once (run_start.c): enter refuses a loop being
 * freed by another thread; leave turns a wait the free interrupted into
 * PK_ERR_HANDLE. `counted` pairs the two. */
int pk__loop_enter(pk_loop_obj *loop, int *counted);
int pk__loop_leave(pk_loop_obj *loop, int counted, int rc);
/* Makes a thread blocked in pk__loop_run_once return (each OS's loop file). */
void pk__loop_wake(pk_loop_obj *loop);
/* One turn of a wait the library drives for a caller: PK_ERR_CANCELLED if
 * a pk_loop_wake is pending, before or after pk__loop_run_once (the wake is
 * taken: it ends this one wait). pk__loop_take_wakes takes them all. */
int pk__loop_turn(pk_loop_obj *loop, int timeout_ms, const char *fn);
int pk__loop_take_wakes(pk_loop_obj *loop);
/* pk__loop_run_once that also returns (PK_OK) when @token triggers. */
int pk__loop_run_once_watching(pk_loop_obj *loop, int timeout_ms, pk_cancel_obj *token);
void pk__process_cancel(pk_process_obj *proc);
/* Signals the run's tree (or the program alone in a shared group). */
int pk__process_signal(pk_process_obj *proc, int sig);
int pk__process_write(pk_process_obj *proc, const void *data, size_t len);
int pk__process_close_stdin(pk_process_obj *proc);
/* Readiness: drive the loop until the condition holds (1), or fail with
 * PK_ERR_NOT_READY. */
int pk__process_wait_for_line(pk_process_obj *proc, int stream, const char *pattern, uint32_t flags, int timeout_ms);
int pk__process_wait_for_port(pk_process_obj *proc, uint16_t port, int timeout_ms);
int pk__process_wait_for(pk_process_obj *proc, pk_ready_fn ready, void *user, uint32_t interval_ms, int timeout_ms);
int pk__process_resize(pk_process_obj *proc, uint16_t rows, uint16_t cols);
/* Wakes the loop and cancels this run when token triggers. */
int pk__process_watch_cancel(pk_process_obj *proc, pk_cancel_obj *token);
/* The OS-neutral steps of pk__loop_start (run_start.c): a new process
 * object (NULL only when out of memory) with the command snapshotted and its
 * group found, then the spawn with the given stdio, stdin bytes queued, and
 * room made for one more run in the loop's list. */
int pk__run_new(pk_loop_obj *loop, pk_command_obj *cmd, pk_group_obj *group, pk_process_obj **out);
/* Each OS's steps of pk__loop_start: stdio and the spawn (ending with
 * pk__run_spawned); watching the run's handles and its cancel token;
 * undoing the watches of a start that failed; and, once the run is in the
 * loop's list, starting its reads, stdin and timer. */
int pk__run_os_spawn(pk_process_obj *p, const pk_start_overrides *ov);
int pk__run_os_watch(pk_process_obj *p);
void pk__run_os_unwatch(pk_process_obj *p);
void pk__run_os_begin(pk_process_obj *p);
/* Each OS's part of a process object: its handles' "none" values, and the
 * destructor that closes them (then pk__run_release). */
void pk__process_os_init(pk_process_obj *p);
void pk__process_os_destroy(pk_object *obj);
/* How an OS makes a run's pipe (our end kept in p, the child's end returned
 * as an fd to close after the spawn) and opens a stdin file. */
typedef struct pk_stdio_ops {
    int (*make_pipe)(pk_process_obj *p, int stream, int *child_end);
    int (*open_file)(const char *path, int *fd);
} pk_stdio_ops;
/* Fills slot[] (what the child's stdin, stdout and stderr are) from the
 * plan and the overrides; the child's ends to close go in child_ends. */
int pk__run_stdio(pk_process_obj *p, const pk_start_overrides *ov, int32_t slot[3], int child_ends[3],
                  const pk_stdio_ops *os);
int pk__run_spawn(pk_process_obj *p, const int32_t slot[3], const struct pk_spawn_extra *extra);
int pk__run_queue_stdin(pk_process_obj *p, const void *data, size_t len);
/* Right after the spawn (its result @rc): closes our copies of the child's
 * @n ends, so end of file arrives when the child's tree closes its own, and
 * queues the command's stdin bytes. Returns the first error. */
int pk__run_spawned(pk_process_obj *p, const pk_start_overrides *ov, int rc, int *child_ends, int n);
int pk__loop_reserve(pk_loop_obj *loop);
/* Frees what every run holds, the OS's handles already closed, and p. */
void pk__run_release(pk_process_obj *p);
/* The program has exited (0 if it has not yet): reaps and records it, kills
 * the rest of a private tree, and starts the clock on draining the pipes. */
int pk__run_exited(pk_process_obj *p);
/* The run is over, its OS handles closed: the private group goes, the
 * result is built, and done is set. */
void pk__run_complete(pk_process_obj *p);
/* The shared run state machine (run_start.c). With the loop's lock held:
 * act on every deadline of the run that has passed (the timeout's signal,
 * then SIGKILL after the grace; the end of the drain), and drop the
 * finished runs from the loop's list. */
void pk__run_on_deadlines(pk_process_obj *p, uint64_t now);
void pk__loop_drop_finished(pk_loop_obj *loop);
/* What each OS's loop gives the state machine: signal the run's tree (the
 * program alone in a shared group); send the timeout's polite signal, 1 if
 * one was sent and a grace period may follow; stop reading the outputs. */
void pk__run_signal_tree(pk_process_obj *p, int sig);
int pk__run_polite_signal(pk_process_obj *p);
void pk__run_close_outputs(pk_process_obj *p);
/* Ends a run on the OS's side (its pipes, timers, events) and completes it
 * (pk__run_complete): what the state machine calls once a run is over. */
void pk__run_finish(pk_process_obj *p);
/* A completed line of a run's output: to the probe, then the callbacks
 * (a pk_emit_fn); and whether anyone wants the lines of a stream. */
void pk__run_emit_line(void *ctx, int stream, const char *line, size_t len);
int pk__run_wants_lines(pk_process_obj *p, int stream);
/* Records a line for a probe's error message and tests it (readiness.c). */
void pk__probe_line(pk_process_obj *p, int stream, const char *line, size_t len);
/* Builds the result object of a finished run (used by pipelines too). */
pk_result_obj *pk__result_new(pk_process_obj *p);
void pk__result_destroy(pk_object *obj);

#endif
