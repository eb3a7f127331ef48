/* pk.exe: `pk run`, `pk supervise` and `pk probe` on Windows, with the
 * options and exit statuses of the Linux pk where Windows can honour them
 * (docs/windows.md). A run is one blocking library call; Ctrl-C, Ctrl-Break
 * and closing the console trigger its token, which kills the run's job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "json_out.h"
#include "pk_cli.h"

/* The token a console event triggers, and which event it was (as the
 * matching Linux signal number, for the 128+N exit status). */
static pk_cancel *volatile console_token;
static volatile LONG console_signal;
/* Set once the run is over. */
static HANDLE run_over;

static BOOL WINAPI on_console_event(DWORD event)
{
    LONG sig = event == CTRL_C_EVENT ? 2 : event == CTRL_BREAK_EVENT ? 21 : 1;
    InterlockedCompareExchange(&console_signal, sig, 0);
    pk_cancel *token = console_token;
    if (token)
        pk_cancel_trigger(token);
    /* Ctrl-C and Ctrl-Break: pk goes on and exits by itself once the job is
     * gone. Close, logoff and shutdown: Windows ends pk as soon as this
     * returns (and gives it about 5 s), so wait here until main has reported
     * and is about to return. */
    if (event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT)
        WaitForSingleObject(run_over, 4500);
    return TRUE;
}

int pkcli_stop_trigger_start(pkcli_stop_trigger *t, pk_cancel *token)
{
    t->token = token;
    if (!run_over) /* set once by main, on its way out */
        run_over = CreateEventW(NULL, TRUE, FALSE, NULL);
    console_signal = 0;
    console_token = token;
    SetConsoleCtrlHandler(on_console_event, TRUE);
    return 0;
}

int pkcli_stop_trigger_end(pkcli_stop_trigger *t)
{
    (void)t;
    SetConsoleCtrlHandler(on_console_event, FALSE);
    console_token = NULL;
    return (int)console_signal;
}

void pkcli_usage(FILE *out)
{
    fputs("usage: pk run [OPTIONS] -- PROGRAM [ARG...]\n"
          "       pk supervise [OPTIONS] -- PROGRAM [ARG...]\n"
          "       pk probe [--json]\n"
          "       pk --version\n"
          "\n"
          "run options: --timeout DUR  --grace DUR  --signal KILL|BREAK  --backend auto|job\n"
          "             --capture  --json  --max-output N  --cwd DIR  --env K=V  --unset K  --clear-env\n"
          "             --stdin PATH|-|null  --memory-max BYTES  --pids-max N  --cpu-max CORES\n"
          "             --retry N  --retry-backoff DUR\n"
          "supervise:   --restart on-failure|always|never  --max-restarts N  --window DUR  --backoff DUR\n"
          "\n"
          "Windows has no signals: a timeout kills the run's job at once, unless --signal BREAK\n"
          "sends CTRL_BREAK to the program's console group first and waits --grace.\n"
          "Exit status: the program's; 124 timed out; 125 pk error; 126 not executable; 127 not found.\n",
          out);
}

static int refuse_posix_only(const pkcli_options *o)
{
    if (o->pty)
        return pkcli_die("--pty: pseudo-terminals are POSIX-only");
    if (o->ready_line || o->ready_port || o->ready_timeout_set)
        return pkcli_die("--ready-line, --ready-port and --ready-timeout are not built into pk.exe yet");
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    pkcli_options o;
    pkcli_options_init(&o, PKCLI_RUN, "run");
    int status = pkcli_parse(argc, argv, &o);
    if (status == 0)
        status = refuse_posix_only(&o);
    if (status != 0 || o.prog < 0) {
        pkcli_options_free(&o);
        return status;
    }
    pk_command *cmd = NULL;
    pk_cancel *token = NULL;
    status = pkcli_command_new(argv + o.prog, argc - o.prog, &o, &cmd);
    if (status == 0)
        status = pkcli_command_stdin(cmd, &o);
    int rc = PK_OK;
    if (status == 0) {
        if (o.timeout_ms)
            rc = pk_command_timeout(cmd, o.timeout_ms, o.signal, o.grace_ms);
        for (int s = PK_STREAM_STDOUT; rc == PK_OK && o.capture && s <= PK_STREAM_STDERR; s++) {
            rc = pk_command_output(cmd, s, PK_OUTPUT_CAPTURE, -1);
            if (rc == PK_OK)
                rc = pk_command_output_limit(cmd, s, o.max_output, PK_OVERFLOW_KEEP_HEAD);
        }
        for (int s = PK_STREAM_STDOUT; rc == PK_OK && !o.capture && s <= PK_STREAM_STDERR; s++)
            rc = pk_command_output(cmd, s, PK_OUTPUT_INHERIT, -1);
        if (rc == PK_OK)
            rc = pk_cancel_new(&token);
        if (rc == PK_OK)
            rc = pk_command_cancel_on(cmd, token);
        if (rc != PK_OK)
            status = pkcli_die("%s", pk_last_error());
    }
    if (status == 0) {
        pkcli_stop_trigger trig;
        pkcli_stop_trigger_start(&trig, token);
        pk_result *result = NULL;
        pk_retry_options retry;
        pkcli_retry_state st;
        pkcli_retry_setup(&o, &retry, &st);
        rc = o.retry ? pk_command_run_retry(cmd, &retry, pkcli_retry_classify, &st, &result)
                     : pk_command_run(cmd, &result);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", pk_last_error());
        int forwarded = pkcli_stop_trigger_end(&trig);
        if (rc != PK_OK && forwarded) {
            status = 128 + forwarded; /* cancelled while waiting to retry */
        } else if (rc != PK_OK) {
            fprintf(stderr, "pk: %s\n", msg);
            status = pkcli_start_failure(rc);
        } else {
            pk_run_info info = PK_RUN_INFO_INIT;
            pk_result_info(result, &info);
            if (o.json) {
                pkcli_json_open(stdout, result, &info, o.capture);
                if (o.retry)
                    fprintf(stdout, ",\"attempts\":%u", (unsigned)st.attempts);
                fputs("}\n", stdout);
                fflush(stdout);
            } else if (o.capture) {
                pkcli_replay_capture(result);
            }
            status = pkcli_exit_status(&info, forwarded);
            pk_result_free(result);
        }
    }
    pk_command_free(cmd);
    if (token)
        pk_cancel_free(token);
    pkcli_options_free(&o);
    return status;
}

static int dispatch(int argc, char **argv);

int main(int argc, char **argv)
{
    int status = dispatch(argc, argv);
    if (run_over)
        SetEvent(run_over); /* everything is reported: a console handler may let Windows end pk */
    return status;
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        pkcli_usage(stderr);
        return EXIT_PK_ERROR;
    }
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(argc, argv);
    if (strcmp(argv[1], "probe") == 0)
        return pkcli_cmd_probe(argc, argv);
    if (strcmp(argv[1], "supervise") == 0)
        return pkcli_cmd_supervise(argc, argv);
    if (strcmp(argv[1], "pipe") == 0)
        return pkcli_die("'pipe' is not built for Windows yet");
    if (strcmp(argv[1], "timeout") == 0)
        return pkcli_die("'timeout' is not built for Windows (it is Linux-only)");
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
