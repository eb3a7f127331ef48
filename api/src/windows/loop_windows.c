/* The loop on Windows: runs wait on handles, not fds. Each output pipe has
 * one overlapped read in flight, stdin one overlapped write; the loop waits
 * on their events, the process handles and the cancellation events with
 * WaitForMultipleObjects, and checks every run after each wakeup. Timeouts
 * are deadlines folded into the wait's timeout. */
#define _CRT_RAND_S /* rand_s, from the C runtime's system random source */
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "loop.h"
#include "sys.h"
#include "sys_windows.h"

#define READ_CHUNK (64 * 1024)
/* Completed reads handled per stream per wakeup, so one flooding child
 * cannot starve the others. */
#define READS_PER_WAKEUP 16
/* SIGBREAK, the opt-in graceful signal: CTRL_BREAK to the run's console
 * group (mingw's <signal.h> has it as 21). */
#ifndef SIGBREAK
#define SIGBREAK 21
#endif

static volatile LONG pipe_serial;
static unsigned pipe_salt;
static pthread_once_t pipe_salt_once = PTHREAD_ONCE_INIT;

static void pick_pipe_salt(void)
{
    if (rand_s(&pipe_salt) != 0)
        pipe_salt = (unsigned)GetTickCount() ^ (unsigned)GetCurrentProcessId();
}

static void stream_close(pk_win_stream *st)
{
    if (st->pipe && st->pending) {
        /* The buffer and OVERLAPPED must outlive the I/O: cancel and wait. */
        DWORD n;
        CancelIoEx(st->pipe, st->overlapped);
        GetOverlappedResult(st->pipe, st->overlapped, &n, TRUE);
    }
    if (st->pipe)
        CloseHandle(st->pipe);
    if (st->event)
        CloseHandle(st->event);
    free(st->overlapped);
    free(st->buf);
    memset(st, 0, sizeof *st);
}

void pk__process_os_init(pk_process_obj *p)
{
    (void)p; /* zeroed is right: no stream, no event */
}

void pk__process_os_destroy(pk_object *obj)
{
    pk_process_obj *p = (pk_process_obj *)obj;
    for (int i = 0; i < 3; i++)
        stream_close(&p->io[i]);
    if (p->cancel_event)
        CloseHandle(p->cancel_event);
    pk__run_release(p);
}

void pk__loop_os_close(pk_loop_obj *loop)
{
    if (loop->wake_event)
        CloseHandle(loop->wake_event);
    loop->wake_event = NULL;
}

int pk__loop_os_open(pk_loop_obj *loop)
{
    loop->wake_event = CreateEventW(NULL, FALSE, FALSE, NULL);
    if (!loop->wake_event)
        return pk__fail_win(PK_ERR_OS, GetLastError(), "pk_loop_new: CreateEvent");
    return PK_OK;
}

static void wake(pk_loop_obj *loop)
{
    SetEvent(loop->wake_event);
}

/* ---- output ---- */

static void close_stream(pk_process_obj *p, int stream)
{
    if (!p->io[stream].pipe)
        return;
    stream_close(&p->io[stream]);
    if (stream > 0 && pk__run_wants_lines(p, stream))
        pk__lines_flush(&p->lines[stream], stream, pk__run_emit_line, p);
}

static void start_read(pk_process_obj *p, int stream)
{
    pk_win_stream *st = &p->io[stream];
    OVERLAPPED *ov = st->overlapped;
    memset(ov, 0, sizeof *ov);
    ov->hEvent = st->event;
    if (!ReadFile(st->pipe, st->buf, READ_CHUNK, NULL, ov) && GetLastError() != ERROR_IO_PENDING) {
        close_stream(p, stream); /* broken pipe: every writer is gone */
        return;
    }
    st->pending = 1; /* even a read that completed at once is collected below */
}

/* Collects finished reads and starts the next ones. */
static void pump_read(pk_process_obj *p, int stream)
{
    for (int i = 0; i < READS_PER_WAKEUP; i++) {
        pk_win_stream *st = &p->io[stream];
        if (!st->pipe || !st->pending)
            return;
        DWORD n = 0;
        if (!GetOverlappedResult(st->pipe, st->overlapped, &n, FALSE)) {
            if (GetLastError() == ERROR_IO_INCOMPLETE)
                return;
            st->pending = 0;
            close_stream(p, stream);
            return;
        }
        st->pending = 0;
        if (n) {
            (void)pk__capture_append(&p->cap[stream], st->buf, n);
            if (pk__run_wants_lines(p, stream))
                pk__lines_feed(&p->lines[stream], st->buf, n, stream, pk__run_emit_line, p);
        }
        start_read(p, stream);
    }
}

/* ---- stdin ---- */

/* Another thread (pk_process_write) may get here while the loop waits on
 * this stream's event; closing it then would pull a handle out from under
 * the wait, so the loop closes it after the wait instead. */
static void close_stdin(pk_process_obj *p)
{
    if (p->loop->waiting) {
        p->io[0].closing = 1;
        wake(p->loop);
        return;
    }
    stream_close(&p->io[0]);
}

/* Writes what is queued through a private copy, so the queue may grow
 * (realloc) while a write is in flight. */
static void pump_stdin(pk_process_obj *p)
{
    pk_win_stream *st = &p->io[0];
    if (!st->pipe)
        return;
    if (st->pending) {
        DWORD n = 0;
        if (!GetOverlappedResult(st->pipe, st->overlapped, &n, FALSE)) {
            if (GetLastError() == ERROR_IO_INCOMPLETE)
                return;
            /* The child stopped reading; the rest has nowhere to go. */
            st->pending = 0;
            p->in_off = p->in_len = 0;
            close_stdin(p);
            return;
        }
        st->pending = 0;
        p->in_off += n;
    }
    if (p->in_off < p->in_len) {
        size_t len = p->in_len - p->in_off;
        if (len > READ_CHUNK)
            len = READ_CHUNK;
        memcpy(st->buf, p->in_buf + p->in_off, len);
        OVERLAPPED *ov = st->overlapped;
        memset(ov, 0, sizeof *ov);
        ov->hEvent = st->event;
        if (!WriteFile(st->pipe, st->buf, (DWORD)len, NULL, ov) && GetLastError() != ERROR_IO_PENDING) {
            p->in_off = p->in_len = 0;
            close_stdin(p);
            return;
        }
        st->pending = 1;
        return;
    }
    p->in_off = p->in_len = 0;
    if (p->in_close)
        close_stdin(p);
}

/* ---- termination ---- */

/* Windows has SIGKILL only: the whole job in a private group, the program
 * alone in a shared one. */
static int signal_tree(pk_process_obj *p, int sig)
{
    if (p->private_group)
        return pk__group_signal_obj(p->group, sig);
    pthread_mutex_lock(&p->child->lock);
    int rc = p->child->reaped || p->child->lost ? PK_OK : pk__proc_signal(p->child, sig);
    pthread_mutex_unlock(&p->child->lock);
    return rc;
}

void pk__run_signal_tree(pk_process_obj *p, int sig)
{
    (void)signal_tree(p, sig);
}

/* The opt-in graceful path: CTRL_BREAK reaches a console process group,
 * which a run has only when started with PK_COMMAND_NEW_SESSION. */
static int can_break(const pk_process_obj *p)
{
    return (p->plan.flags & PK_COMMAND_NEW_SESSION) != 0;
}

static int send_break(pk_process_obj *p)
{
    if (!GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, (DWORD)p->pid))
        return pk__fail_win(PK_ERR_OS, GetLastError(), "CTRL_BREAK to pid %d", (int)p->pid);
    return PK_OK;
}

int pk__run_polite_signal(pk_process_obj *p)
{
    /* Graceful means an atomic kill on Windows, unless the caller asked for
     * CTRL_BREAK and gave the run a console group. */
    int sent = p->plan.timeout_signal == SIGBREAK && can_break(p) && p->plan.grace_ms && send_break(p) == PK_OK;
    pk__clear_error(); /* a failed break falls back to the kill, not the caller's error */
    return sent;
}

void pk__run_close_outputs(pk_process_obj *p)
{
    close_stream(p, 1);
    close_stream(p, 2);
}

void pk__run_finish(pk_process_obj *p)
{
    close_stdin(p);
    close_stream(p, 1);
    close_stream(p, 2);
    if (p->cancel_event) {
        CloseHandle(p->cancel_event);
        p->cancel_event = NULL;
    }
    pk__run_complete(p);
}

static void check_done(pk_process_obj *p)
{
    if (!atomic_load(&p->done) && p->exited && !p->io[1].pipe && !p->io[2].pipe)
        pk__run_finish(p);
}

/* ---- starting ---- */

static int stream_init(pk_win_stream *st, HANDLE pipe)
{
    st->pipe = pipe;
    st->event = CreateEventW(NULL, TRUE, FALSE, NULL);
    st->overlapped = calloc(1, sizeof(OVERLAPPED));
    st->buf = malloc(READ_CHUNK);
    if (!st->event || !st->overlapped || !st->buf) {
        stream_close(st);
        return pk__fail(PK_ERR_NOMEM, "out of memory (or events) for a pipe");
    }
    return PK_OK;
}

/* A pipe whose end in this process is overlapped and whose other end, a C
 * runtime fd for the spawn, is not. Anonymous pipes cannot do overlapped
 * I/O, hence a uniquely named one that refuses a second instance and
 * remote clients. Neither handle is inheritable: the spawn duplicates the
 * child's end into an inheritable handle only for that child. */
static int make_pipe(pk_win_stream *st, int we_read, int *child_fd)
{
    /* A random part, so another local process cannot squat the names a run
     * will ask for (the first-instance flag would then fail the run). */
    pthread_once(&pipe_salt_once, pick_pipe_salt);
    wchar_t name[96];
    swprintf(name, 96, L"\\\\.\\pipe\\processkit-%lu-%08x-%ld", (unsigned long)GetCurrentProcessId(), pipe_salt,
             (long)InterlockedIncrement(&pipe_serial));
    HANDLE ours = CreateNamedPipeW(name,
                                   (we_read ? PIPE_ACCESS_INBOUND : PIPE_ACCESS_OUTBOUND) | FILE_FLAG_OVERLAPPED |
                                       FILE_FLAG_FIRST_PIPE_INSTANCE,
                                   PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1,
                                   READ_CHUNK, READ_CHUNK, 0, NULL);
    if (ours == INVALID_HANDLE_VALUE)
        return pk__fail_win(PK_ERR_OS, GetLastError(), "CreateNamedPipe");
    const DWORD access = we_read ? GENERIC_WRITE | FILE_READ_ATTRIBUTES : GENERIC_READ | FILE_WRITE_ATTRIBUTES;
    HANDLE theirs = CreateFileW(name, access, 0, NULL, OPEN_EXISTING, 0, NULL);
    if (theirs == INVALID_HANDLE_VALUE) {
        DWORD err = GetLastError();
        CloseHandle(ours);
        return pk__fail_win(PK_ERR_OS, err, "opening the child's end of a pipe");
    }
    int fd = _open_osfhandle((intptr_t)theirs, (we_read ? _O_WRONLY : _O_RDONLY) | _O_BINARY);
    if (fd < 0) {
        CloseHandle(ours);
        CloseHandle(theirs);
        return pk__fail(PK_ERR_OS, "no C runtime fd for a pipe");
    }
    int rc = stream_init(st, ours);
    if (rc != PK_OK) {
        _close(fd);
        return rc;
    }
    *child_fd = fd;
    return PK_OK;
}

static int open_stdin_file(const char *path, int *fd)
{
    wchar_t *w = pk__utf16(path);
    if (!w)
        return pk__fail(PK_ERR_INVALID, "stdin file %s: not valid UTF-8 (or out of memory)", path);
    HANDLE h = CreateFileW(w, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    free(w);
    if (h == INVALID_HANDLE_VALUE) {
        DWORD err = GetLastError();
        return pk__fail_win(pk__code_from_win(err), err, "stdin file %s", path);
    }
    *fd = _open_osfhandle((intptr_t)h, _O_RDONLY | _O_BINARY);
    if (*fd < 0) {
        CloseHandle(h);
        return pk__fail(PK_ERR_OS, "stdin file %s: no C runtime fd", path);
    }
    return PK_OK;
}

static int pipe_for(pk_process_obj *p, int stream, int *child_end)
{
    return make_pipe(&p->io[stream], stream != 0, child_end);
}

static const pk_stdio_ops windows_stdio = {pipe_for, open_stdin_file};

int pk__run_os_spawn(pk_process_obj *p, const pk_start_overrides *ov)
{
    int32_t slot[3];
    int child_ends[3] = {-1, -1, -1};
    int rc = pk__run_stdio(p, ov, slot, child_ends, &windows_stdio);
    if (rc == PK_OK)
        rc = pk__run_spawn(p, slot, NULL);
    return pk__run_spawned(p, ov, rc, child_ends, 3);
}

int pk__run_os_watch(pk_process_obj *p)
{
    if (p->plan.cancel &&
        !DuplicateHandle(GetCurrentProcess(), p->plan.cancel->event, GetCurrentProcess(), &p->cancel_event, 0, FALSE,
                         DUPLICATE_SAME_ACCESS))
        return pk__fail_win(PK_ERR_OS, GetLastError(), "duplicating a cancellation event");
    return PK_OK;
}

void pk__run_os_unwatch(pk_process_obj *p)
{
    (void)p; /* the handles are only waited on while the run is in the loop's list */
}

void pk__run_os_begin(pk_process_obj *p)
{
    for (int s = 1; s <= 2; s++)
        if (p->io[s].pipe)
            start_read(p, s);
    pump_stdin(p);
    wake(p->loop); /* a thread waiting in the loop must add this run's handles */
}

/* ---- dispatch ---- */

static void dispatch(pk_process_obj *p, uint64_t now)
{
    if (p->io[0].closing)
        stream_close(&p->io[0]); /* deferred by close_stdin during the wait */
    if (atomic_load(&p->done))
        return;
    pump_read(p, 1);
    pump_read(p, 2);
    pump_stdin(p);
    if (p->cancel_event && WaitForSingleObject(p->cancel_event, 0) == WAIT_OBJECT_0) {
        CloseHandle(p->cancel_event);
        p->cancel_event = NULL;
        pk__process_cancel(p);
    }
    if (!p->exited && WaitForSingleObject(p->child->proc, 0) == WAIT_OBJECT_0)
        (void)pk__run_exited(p);
    pk__run_on_deadlines(p, now);
    check_done(p);
}

/* Returns 0 when out of memory: the handle is then not waited on, and the
 * caller caps its wait so the run is still looked at soon. */
static int add_handle(HANDLE **hs, size_t *n, size_t *cap, HANDLE h)
{
    if (*n == *cap) {
        size_t grown_cap = *cap ? *cap * 2 : 64;
        HANDLE *grown = realloc(*hs, grown_cap * sizeof *grown);
        if (!grown)
            return 0;
        *hs = grown;
        *cap = grown_cap;
    }
    (*hs)[(*n)++] = h;
    return 1;
}

/* Milliseconds until the nearest deadline of any run, capped by limit. */
static DWORD next_deadline_ms(pk_loop_obj *loop, uint64_t now, DWORD limit)
{
    DWORD ms = limit;
    for (size_t i = 0; i < loop->count; i++) {
        pk_process_obj *p = loop->procs[i];
        const uint64_t d[3] = {p->timeout_at, p->grace_at, p->drain_at};
        for (int j = 0; j < 3; j++) {
            if (!d[j])
                continue;
            DWORD left = (DWORD)pk__ms_until(d[j], now);
            if (left < ms)
                ms = (DWORD)left;
        }
    }
    return ms;
}

static int run_once(pk_loop_obj *loop, int timeout_ms, HANDLE extra);

void pk__loop_wake(pk_loop_obj *loop)
{
    wake(loop);
}

static int run_once_counted(pk_loop_obj *loop, int timeout_ms, HANDLE extra)
{
    int counted;
    int rc = pk__loop_enter(loop, &counted);
    if (rc == PK_OK)
        rc = pk__loop_leave(loop, counted, run_once(loop, timeout_ms, extra));
    return rc;
}

int pk__loop_run_once(pk_loop_obj *loop, int timeout_ms)
{
    return run_once_counted(loop, timeout_ms, NULL);
}

int pk__loop_run_once_watching(pk_loop_obj *loop, int timeout_ms, pk_cancel_obj *token)
{
    /* The token's event joins the loop's own wait. */
    return run_once_counted(loop, timeout_ms, token->event);
}

static int run_once(pk_loop_obj *loop, int timeout_ms, HANDLE extra)
{
    HANDLE *all = NULL;
    size_t n = 0, cap = 0;
    int complete = 1;
    pthread_mutex_lock(&loop->lock);
    for (size_t i = 0; i < loop->count; i++) {
        pk_process_obj *p = loop->procs[i];
        for (int s = 0; s < 3; s++)
            if (p->io[s].pipe && p->io[s].pending)
                complete &= add_handle(&all, &n, &cap, p->io[s].event);
        if (p->cancel_event)
            complete &= add_handle(&all, &n, &cap, p->cancel_event);
        if (!p->exited)
            complete &= add_handle(&all, &n, &cap, p->child->proc);
    }
    DWORD ms = next_deadline_ms(loop, pk__now_ns(), timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
    if (!complete && ms > 10)
        ms = 10;
    /* One wait takes 64 handles. Past that, wait on a rotating window and
     * come back within 10 ms to look at the rest. */
    HANDLE window[MAXIMUM_WAIT_OBJECTS];
    DWORD wn = 0;
    window[wn++] = loop->wake_event;
    if (extra)
        window[wn++] = extra;
    const size_t room = MAXIMUM_WAIT_OBJECTS - wn;
    size_t start = n > room ? loop->rotate % n : 0;
    for (size_t k = 0; k < n && wn < MAXIMUM_WAIT_OBJECTS; k++)
        window[wn++] = all[(start + k) % n];
    if (n > room) {
        loop->rotate += room;
        if (ms > 10)
            ms = 10;
    }
    free(all);
    loop->waiting = 1;
    pthread_mutex_unlock(&loop->lock);

    DWORD w = WaitForMultipleObjects(wn, window, FALSE, ms);
    DWORD err = GetLastError();

    pthread_mutex_lock(&loop->lock);
    loop->waiting = 0;
    if (w == WAIT_FAILED) {
        pthread_mutex_unlock(&loop->lock);
        return pk__fail_win(PK_ERR_OS, err, "WaitForMultipleObjects");
    }
    loop->in_dispatch++;
    uint64_t now = pk__now_ns();
    for (size_t i = 0; i < loop->count; i++)
        dispatch(loop->procs[i], now);
    pk__loop_drop_finished(loop);
    loop->in_dispatch--;
    pthread_mutex_unlock(&loop->lock);
    return PK_OK;
}


/* ---- used by the public API in run.c ---- */

int pk__process_write(pk_process_obj *p, const void *data, size_t len)
{
    if (p->plan.stdin_mode != PK_IN_PIPE)
        return pk__fail(PK_ERR_STATE, "pk_process_write: stdin is not a pipe (use pk_command_stdin_pipe)");
    if (!p->io[0].pipe || p->in_close)
        return pk__fail(PK_ERR_STATE, "pk_process_write: stdin is closed");
    int rc = pk__run_queue_stdin(p, data, len);
    if (rc == PK_OK)
        pump_stdin(p);
    wake(p->loop); /* a write started here joins the loop's next wait */
    return rc;
}

int pk__process_close_stdin(pk_process_obj *p)
{
    if (p->plan.stdin_mode != PK_IN_PIPE)
        return pk__fail(PK_ERR_STATE, "pk_process_close_stdin: stdin is not a pipe");
    p->in_close = 1;
    pump_stdin(p);
    wake(p->loop);
    return PK_OK;
}

int pk__process_signal(pk_process_obj *p, int sig)
{
    if (sig == SIGBREAK && can_break(p))
        return send_break(p);
    if (sig != SIGKILL)
        return pk__fail(PK_ERR_UNSUPPORTED, "pk_process_signal: Windows has no signal %d; SIGKILL (9) kills the run's "
                                            "tree, SIGBREAK (21) sends CTRL_BREAK to a run started with "
                                            "PK_COMMAND_NEW_SESSION", sig);
    return signal_tree(p, sig);
}

/* ---- POSIX only ---- */

int pk__process_resize(pk_process_obj *p, uint16_t rows, uint16_t cols)
{
    (void)p, (void)rows, (void)cols;
    return pk__fail(PK_ERR_UNSUPPORTED, "pk_process_resize: PTY runs are POSIX-only");
}
