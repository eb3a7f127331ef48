/* `pk supervise [OPTIONS] -- PROGRAM [ARG...]`: pk_supervise keeps the
 * program running under a restart policy and reports its lifecycle on
 * stderr ("pk: started (run 1)", "pk: exited with code 1", "pk: restarting
 * in 200 ms", "pk: gave up after 3 restarts"). Output is pk's own. pk's
 * SIGINT/SIGTERM/SIGHUP (console events on Windows) trigger the stop token:
 * the current run's tree gets --signal (default TERM) and SIGKILL 2 s later
 * (on Windows the kill at once, or CTRL_BREAK first with --signal BREAK),
 * nothing restarts, and pk exits 128+N.
 * Otherwise pk exits with the last run's status. */
#include <string.h>

#include "pk_cli.h"

typedef struct supervise_state {
    int have_last;
    pk_run_info last;
} supervise_state;

static void on_event(void *user, int32_t event, uint32_t restarts, uint32_t delay_ms, pk_result *result)
{
    supervise_state *st = user;
    char what[128];
    switch (event) {
    case PK_SUPERVISE_STARTED: fprintf(stderr, "pk: started (run %u)\n", (unsigned)restarts + 1); break;
    case PK_SUPERVISE_EXITED: {
        pk_run_info info = PK_RUN_INFO_INIT;
        if (result && pk_result_info(result, &info) == PK_OK) {
            st->last = info;
            st->have_last = 1;
            pkcli_describe(&info, what, sizeof what);
            fprintf(stderr, "pk: %s\n", what);
        }
        break;
    }
    case PK_SUPERVISE_RESTARTING: fprintf(stderr, "pk: restarting in %u ms\n", (unsigned)delay_ms); break;
    case PK_SUPERVISE_STORM_PAUSE: fprintf(stderr, "pk: restarting too fast; pausing %u ms\n", (unsigned)delay_ms); break;
    case PK_SUPERVISE_GAVE_UP:
        fprintf(stderr, "pk: gave up after %u restart%s\n", (unsigned)restarts, restarts == 1 ? "" : "s");
        break;
    case PK_SUPERVISE_STOPPED: fputs("pk: stopped\n", stderr); break;
    default: break;
    }
}

int pkcli_cmd_supervise(int argc, char **argv)
{
    pkcli_options o;
    pkcli_options_init(&o, PKCLI_SUPERVISE, "supervise");
    pk_command *cmd = NULL;
    int rc = pkcli_parse(argc, argv, &o);
    if (rc == 0)
        rc = pkcli_command_new(argv + o.prog, argc - o.prog, &o, &cmd);
    if (rc == 0)
        rc = pkcli_command_stdin(cmd, &o);
    /* The signal is also what a stop sends; a timeout of 0 sets none. */
    if (rc == 0 && (pk_command_output(cmd, PK_STREAM_STDOUT, PK_OUTPUT_INHERIT, -1) != PK_OK ||
                    pk_command_output(cmd, PK_STREAM_STDERR, PK_OUTPUT_INHERIT, -1) != PK_OK ||
                    pk_command_timeout(cmd, o.timeout_ms, o.signal, o.grace_ms) != PK_OK))
        rc = pkcli_die("%s", pk_last_error());
    pk_cancel *stop = NULL;
    if (rc == 0 && pk_cancel_new(&stop) != PK_OK)
        rc = pkcli_die("%s", pk_last_error());
    if (rc != 0) {
        pk_command_free(cmd);
        pkcli_options_free(&o);
        return rc;
    }

    pk_supervise_options opts = PK_SUPERVISE_OPTIONS_INIT;
    opts.restart = o.restart;
    opts.backoff_initial_ms = o.backoff_ms;
    if (o.window_set) {
        opts.storm_restarts = o.max_restarts;
        opts.storm_window_ms = o.window_ms;
        opts.storm_action = PK_STORM_GIVE_UP;
    } else if (o.max_restarts_set) {
        opts.max_restarts = o.max_restarts;
    }

    pkcli_stop_trigger trig;
    int status;
    if (pkcli_stop_trigger_start(&trig, stop) != 0) {
        status = EXIT_PK_ERROR;
    } else {
        supervise_state st = {0};
        pk_supervise_report report = PK_SUPERVISE_REPORT_INIT;
        rc = pk_supervise(cmd, &opts, on_event, NULL, &st, stop, &report);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", pk_last_error());
        int forwarded = pkcli_stop_trigger_end(&trig);
        if (forwarded)
            status = 128 + forwarded;
        else if (rc != PK_OK) {
            fprintf(stderr, "pk: %s\n", msg);
            status = pkcli_start_failure(rc);
        } else if (st.have_last)
            status = pkcli_exit_status(&st.last, 0);
        else
            status = pkcli_die("supervision ended without a run");
    }
    pk_cancel_free(stop);
    pk_command_free(cmd);
    pkcli_options_free(&o);
    return status;
}
