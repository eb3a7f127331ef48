/* `pk pipe [OPTIONS] -- A ARGS '|' B ARGS ['|' ...]`: a pk_pipeline, every
 * stage in one private group. A lone "|" argument separates the stages.
 * The first stage reads --stdin (pk's stdin by default); the last stage's
 * stdout (and, with --capture, its stderr) is the pipeline's output; the
 * other stages' stderr is pk's. The status is that of the first stage
 * that failed (pipefail), where a producer killed by SIGPIPE has not
 * failed; otherwise the last stage's. pk's SIGINT/SIGTERM/SIGHUP cancel
 * the pipeline (SIGKILL to every stage's tree) and pk exits 128+N. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pk_cli.h"

static void trigger(void *user, int sig)
{
    (void)sig;
    pk_cancel_trigger(user);
}

/* Splits argv[first..argc-1] at lone "|" words: stage i is words
 * starts[i]..starts[i]+lens[i]-1. */
static int split_stages(int argc, char **argv, int first, int **starts_out, int **lens_out, int *count_out)
{
    int cap = 1;
    for (int a = first; a < argc; a++)
        if (strcmp(argv[a], "|") == 0)
            cap++;
    int *starts = calloc((size_t)cap, sizeof *starts), *lens = calloc((size_t)cap, sizeof *lens);
    if (!starts || !lens) {
        free(starts);
        free(lens);
        return pkcli_die("out of memory");
    }
    int n = 0;
    starts[0] = first;
    for (int a = first; a <= argc; a++) {
        if (a == argc || strcmp(argv[a], "|") == 0) {
            lens[n] = a - starts[n];
            if (lens[n] == 0) {
                free(starts);
                free(lens);
                return pkcli_die("pipeline stage %d is empty (stages are separated by a lone '|')", n + 1);
            }
            if (a < argc)
                starts[++n] = a + 1;
        }
    }
    *starts_out = starts;
    *lens_out = lens;
    *count_out = n + 1;
    return 0;
}

/* One stage's streams: stdin for the first, the pipeline's output for the last. */
static int configure_stage(pk_command *cmd, int index, int count, const pkcli_options *o, pkcli_passthrough *pt)
{
    int last = index == count - 1;
    if (index == 0) {
        int status = pkcli_command_stdin(cmd, o);
        if (status != 0)
            return status;
    }
    int rc = PK_OK;
    if (!last) {
        rc = pk_command_output(cmd, PK_STREAM_STDERR, PK_OUTPUT_INHERIT, -1);
    } else if (o->capture) {
        for (int s = PK_STREAM_STDOUT; s <= PK_STREAM_STDERR && rc == PK_OK; s++) {
            rc = pk_command_output(cmd, s, PK_OUTPUT_CAPTURE, -1);
            if (rc == PK_OK)
                rc = pk_command_output_limit(cmd, s, o->max_output, PK_OVERFLOW_KEEP_HEAD);
        }
    } else {
        rc = pk_command_output(cmd, PK_STREAM_STDERR, PK_OUTPUT_INHERIT, -1);
        if (rc == PK_OK && pt->write_fd >= 0)
            rc = pk_command_output(cmd, PK_STREAM_STDOUT, PK_OUTPUT_FD, pt->write_fd);
        else if (rc == PK_OK)
            rc = pk_command_output(cmd, PK_STREAM_STDOUT, PK_OUTPUT_INHERIT, -1);
    }
    return rc == PK_OK ? 0 : pkcli_die("%s", pk_last_error());
}

static void print_stages(pk_result *result, const pk_run_info *info)
{
    fputs(",\"stages\":[", stdout);
    for (uint32_t i = 0; i < info->stage_count; i++) {
        pk_run_info si = PK_RUN_INFO_INIT;
        pk_result_stage_info(result, i, &si);
        fprintf(stdout, "%s{\"outcome\":\"%s\",", i ? "," : "", pkcli_outcome_name(si.outcome));
        if (si.exit_code >= 0)
            fprintf(stdout, "\"exit_code\":%d,", (int)si.exit_code);
        else
            fputs("\"exit_code\":null,", stdout);
        if (si.signal > 0)
            fprintf(stdout, "\"signal\":%d,", (int)si.signal);
        else
            fputs("\"signal\":null,", stdout);
        fprintf(stdout, "\"pid\":%d}", (int)si.pid);
    }
    fputs("],\"failed_stage\":", stdout);
    if (info->failed_stage >= 0)
        fprintf(stdout, "%d", (int)info->failed_stage);
    else
        fputs("null", stdout);
}

int pkcli_cmd_pipe(int argc, char **argv)
{
    pkcli_options o;
    pkcli_options_init(&o, PKCLI_PIPE, "pipe");
    int *starts = NULL, *lens = NULL, count = 0;
    int rc = pkcli_parse(argc, argv, &o);
    if (rc == 0)
        rc = split_stages(argc, argv, o.prog, &starts, &lens, &count);
    pkcli_passthrough pt = PKCLI_PASSTHROUGH_INIT;
    if (rc == 0 && o.json && !o.capture)
        rc = pkcli_passthrough_open(&pt);

    pk_command **cmds = rc == 0 ? calloc((size_t)count, sizeof *cmds) : NULL;
    if (rc == 0 && !cmds)
        rc = pkcli_die("out of memory");
    for (int i = 0; rc == 0 && i < count; i++) {
        rc = pkcli_command_new(argv + starts[i], lens[i], &o, &cmds[i]);
        if (rc == 0)
            rc = configure_stage(cmds[i], i, count, &o, &pt);
    }
    pk_pipeline *pl = NULL;
    pk_cancel *token = NULL;
    if (rc == 0 && (pk_pipeline_new(&pl) != PK_OK || pk_cancel_new(&token) != PK_OK ||
                    pk_pipeline_cancel_on(pl, token) != PK_OK ||
                    (o.timeout_ms && pk_pipeline_timeout(pl, o.timeout_ms, o.signal, o.grace_ms) != PK_OK)))
        rc = pkcli_die("%s", pk_last_error());
    for (int i = 0; rc == 0 && i < count; i++)
        if (pk_pipeline_add(pl, cmds[i], 0) != PK_OK)
            rc = pkcli_die("%s", pk_last_error());

    int status = rc;
    if (rc == 0) {
        /* Stages start with SIGPIPE at its default, as a shell's pipeline
         * would (children inherit dispositions, not pk's mask); pk itself
         * blocks it, so a closed stdout is an EPIPE to pk, not its death. */
        signal(SIGPIPE, SIG_DFL);
        sigset_t pipe_set;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        sigprocmask(SIG_BLOCK, &pipe_set, NULL);
        int sigfd = pkcli_signals_block(0);
        pkcli_watch w = {.sigfd = sigfd, .pt = pt.read_fd >= 0 ? &pt : NULL, .on_signal = trigger, .user = token};
        if (pkcli_watch_start(&w) != 0) {
            status = EXIT_PK_ERROR;
        } else {
            pk_result *result = NULL;
            int run = pk_pipeline_run(pl, &result);
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", pk_last_error());
            pkcli_passthrough_close_writer(&pt);
            pkcli_watch_stop(&w);
            pkcli_passthrough_forward(&pt, 1);
            pk_run_info info = PK_RUN_INFO_INIT;
            if (run != PK_OK) {
                if (w.forwarded)
                    status = 128 + w.forwarded;
                else {
                    fprintf(stderr, "pk: %s\n", msg);
                    status = pkcli_start_failure(run);
                }
            } else if (pk_result_info(result, &info) != PK_OK) {
                status = pkcli_die("%s", pk_last_error());
            } else {
                if (o.capture && !o.json)
                    pkcli_replay_capture(result);
                if (o.json) {
                    if (pt.last_byte >= 0 && pt.last_byte != '\n')
                        pkcli_write_all(1, "\n", 1);
                    pkcli_json_open(stdout, result, &info, o.capture);
                    print_stages(result, &info);
                    fputs("}\n", stdout);
                    fflush(stdout);
                }
                status = pkcli_exit_status(&info, w.forwarded);
            }
            pk_result_free(result);
        }
        if (sigfd >= 0)
            close(sigfd);
    }
    pkcli_passthrough_close_writer(&pt);
    if (pt.read_fd >= 0)
        close(pt.read_fd);
    for (int i = 0; cmds && i < count; i++)
        pk_command_free(cmds[i]);
    free(cmds);
    pk_pipeline_free(pl);
    pk_cancel_free(token);
    free(starts);
    free(lens);
    pkcli_options_free(&o);
    return status;
}
