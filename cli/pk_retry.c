/* `pk run --retry N`: pk_command_run_retry runs the configured command up
 * to N times while it fails (any outcome but success, timeouts included);
 * cancellation ends it. pk's SIGINT/SIGTERM/SIGHUP cancel the current
 * attempt (SIGKILL to its tree) and stop the retries: pk exits 128+N. */
#include <string.h>
#include <unistd.h>

#include "pk_cli.h"

static void trigger(void *user, int sig)
{
    (void)sig;
    pk_cancel_trigger(user);
}

int pkcli_run_retry(pk_command *cmd, const pkcli_options *o, pkcli_passthrough *pt, int sigfd)
{
    pk_cancel *token = NULL;
    if (pk_cancel_new(&token) != PK_OK || pk_command_cancel_on(cmd, token) != PK_OK) {
        int rc = pkcli_die("%s", pk_last_error());
        pk_cancel_free(token);
        return rc;
    }
    pkcli_watch w = {.sigfd = sigfd, .pt = pt->read_fd >= 0 ? pt : NULL, .on_signal = trigger, .user = token};
    if (pkcli_watch_start(&w) != 0) {
        pk_cancel_free(token);
        return EXIT_PK_ERROR;
    }
    pk_retry_options opts;
    pkcli_retry_state st;
    pkcli_retry_setup(o, &opts, &st);
    pk_result *result = NULL;
    int rc = pk_command_run_retry(cmd, &opts, pkcli_retry_classify, &st, &result);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", pk_last_error());

    /* Every attempt's tree is gone: once pk's copy of the pass-through
     * pipe is closed, it reaches its end. */
    pkcli_passthrough_close_writer(pt);
    pkcli_watch_stop(&w);
    pkcli_passthrough_forward(pt, 1);
    pk_cancel_free(token);

    if (rc != PK_OK) {
        if (w.forwarded) /* cancelled while waiting to retry, or before a start */
            return 128 + w.forwarded;
        fprintf(stderr, "pk: %s\n", msg);
        return pkcli_start_failure(rc);
    }
    pk_run_info info = PK_RUN_INFO_INIT;
    int status;
    if (pk_result_info(result, &info) != PK_OK) {
        status = pkcli_die("%s", pk_last_error());
    } else {
        if (o->capture && !o->json)
            pkcli_replay_capture(result);
        if (o->json) {
            if (pt->last_byte >= 0 && pt->last_byte != '\n')
                pkcli_write_all(1, "\n", 1);
            pkcli_json_open(stdout, result, &info, o->capture);
            fprintf(stdout, ",\"attempts\":%u}\n", (unsigned)st.attempts);
            fflush(stdout);
        }
        status = pkcli_exit_status(&info, w.forwarded);
    }
    pk_result_free(result);
    return status;
}
