/* Helpers shared by pk's subcommands on every OS (see pk_cli.h); the POSIX
 * signal, pass-through and relay machinery is in pk_posix.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _WIN32
#include <io.h>
#include <windows.h>
#else
#include <unistd.h>
#endif

#include "cli_parse.h"
#include "json_out.h"
#include "pk_cli.h"

int pkcli_die(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "pk: %s\n", msg);
    return EXIT_PK_ERROR;
}

int pkcli_exit_status(const pk_run_info *info, int forwarded)
{
    switch (info->outcome) {
    case PK_OUTCOME_TIMED_OUT: return EXIT_TIMEOUT;
    case PK_OUTCOME_CANCELLED: return 128 + (forwarded ? forwarded : SIGKILL);
    case PK_OUTCOME_SIGNALLED: return 128 + info->signal;
    case PK_OUTCOME_STATUS_LOST: return EXIT_PK_ERROR;
    default: return info->exit_code;
    }
}

int pkcli_start_failure(int rc)
{
    return rc == PK_ERR_NOT_FOUND ? EXIT_NOT_FOUND : rc == PK_ERR_PERMISSION ? EXIT_NOT_EXECUTABLE : EXIT_PK_ERROR;
}

const char *pkcli_outcome_name(int outcome)
{
    switch (outcome) {
    case PK_OUTCOME_EXITED: return "exited";
    case PK_OUTCOME_SIGNALLED: return "signalled";
    case PK_OUTCOME_TIMED_OUT: return "timed_out";
    case PK_OUTCOME_CANCELLED: return "cancelled";
    case PK_OUTCOME_STATUS_LOST: return "status_lost";
    default: return "running";
    }
}

void pkcli_describe(const pk_run_info *info, char *buf, size_t len)
{
    const char *name = pkcli_signal_name(info->signal);
    switch (info->outcome) {
    case PK_OUTCOME_EXITED: snprintf(buf, len, "exited with code %d", (int)info->exit_code); break;
    case PK_OUTCOME_SIGNALLED:
        snprintf(buf, len, "killed by signal %d%s%s%s", (int)info->signal, name ? " (" : "", name ? name : "",
                 name ? ")" : "");
        break;
    case PK_OUTCOME_TIMED_OUT: snprintf(buf, len, "timed out"); break;
    case PK_OUTCOME_CANCELLED: snprintf(buf, len, "cancelled"); break;
    case PK_OUTCOME_STATUS_LOST: snprintf(buf, len, "ended, exit status lost (reaped by the host)"); break;
    default: snprintf(buf, len, "still running"); break;
    }
}

static void json_int_or_null(FILE *out, const char *key, int present, int value)
{
    if (present)
        fprintf(out, "\"%s\":%d", key, value);
    else
        fprintf(out, "\"%s\":null", key);
}

void pkcli_json_open(FILE *out, pk_result *result, const pk_run_info *info, int capture)
{
    fprintf(out, "{\"outcome\":\"%s\",", pkcli_outcome_name(info->outcome));
    json_int_or_null(out, "exit_code", info->exit_code >= 0, (int)info->exit_code);
    fputc(',', out);
    json_int_or_null(out, "signal", info->signal > 0, (int)info->signal);
    fprintf(out, ",\"mechanism\":\"%s\",\"pid\":%d,\"duration_ms\":%.3f", pk_mechanism_name(info->mechanism),
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
}

void pkcli_replay_capture(pk_result *result)
{
    const uint8_t *data;
    size_t len;
    pk_result_output(result, PK_STREAM_STDOUT, &data, &len);
    pkcli_write_all(1, data, len);
    pk_result_output(result, PK_STREAM_STDERR, &data, &len);
    pkcli_write_all(2, data, len);
}

void pkcli_write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

uint64_t pkcli_now_ms(void)
{
#ifdef _WIN32
    return (uint64_t)GetTickCount64();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
#endif
}

void pkcli_retry_setup(const pkcli_options *o, pk_retry_options *opts, pkcli_retry_state *st)
{
    const pk_retry_options defaults = PK_RETRY_OPTIONS_INIT;
    *opts = defaults;
    opts->max_attempts = o->retry;
    opts->initial_delay_ms = o->retry_backoff_ms;
    opts->max_delay_ms = 30000;
    opts->multiplier = 2.0;
    opts->jitter = 1;
    st->max_attempts = o->retry;
    st->attempts = 1;
}

int pkcli_retry_classify(void *user, pk_result *result, uint32_t attempt)
{
    pkcli_retry_state *st = user;
    st->attempts = attempt + 1;
    pk_run_info info = PK_RUN_INFO_INIT;
    char what[128] = "failed";
    if (pk_result_info(result, &info) == PK_OK)
        pkcli_describe(&info, what, sizeof what);
    fprintf(stderr, "pk: attempt %u of %u %s; retrying\n", (unsigned)attempt, (unsigned)st->max_attempts, what);
    return 1;
}
