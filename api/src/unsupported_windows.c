/* Entry points whose layers are built on the Linux loop only so far. They
 * exist on Windows so the DLL exports the same ABI, and say plainly that
 * the platform lacks them instead of pretending. */
#include "error.h"
#include "processkit.h"

#define NOT_ON_WINDOWS(fn) pk__fail(PK_ERR_UNSUPPORTED, "%s: not built for Windows yet", fn)

int pk_pipeline_new(pk_pipeline **out)
{
    pk__clear_error();
    (void)out;
    return NOT_ON_WINDOWS("pk_pipeline_new");
}

int pk_pipeline_free(pk_pipeline *pipeline)
{
    pk__clear_error();
    (void)pipeline;
    return NOT_ON_WINDOWS("pk_pipeline_free");
}

int pk_pipeline_add(pk_pipeline *pipeline, pk_command *stage, uint32_t stage_flags)
{
    pk__clear_error();
    (void)pipeline, (void)stage, (void)stage_flags;
    return NOT_ON_WINDOWS("pk_pipeline_add");
}

int pk_pipeline_flags(pk_pipeline *pipeline, uint32_t flags)
{
    pk__clear_error();
    (void)pipeline, (void)flags;
    return NOT_ON_WINDOWS("pk_pipeline_flags");
}

int pk_pipeline_timeout(pk_pipeline *pipeline, uint32_t timeout_ms, int32_t sig, uint32_t grace_ms)
{
    pk__clear_error();
    (void)pipeline, (void)timeout_ms, (void)sig, (void)grace_ms;
    return NOT_ON_WINDOWS("pk_pipeline_timeout");
}

int pk_pipeline_cancel_on(pk_pipeline *pipeline, pk_cancel *token)
{
    pk__clear_error();
    (void)pipeline, (void)token;
    return NOT_ON_WINDOWS("pk_pipeline_cancel_on");
}

int pk_pipeline_run(pk_pipeline *pipeline, pk_result **out)
{
    pk__clear_error();
    (void)pipeline, (void)out;
    return NOT_ON_WINDOWS("pk_pipeline_run");
}

int pk_command_run_retry(pk_command *cmd, const pk_retry_options *opts, pk_retry_fn classify, void *user,
                         pk_result **out)
{
    pk__clear_error();
    (void)cmd, (void)opts, (void)classify, (void)user, (void)out;
    return NOT_ON_WINDOWS("pk_command_run_retry");
}

int pk_supervise(pk_command *cmd, const pk_supervise_options *opts, pk_supervise_fn on_event, pk_stop_when_fn stop_when,
                 void *user, pk_cancel *stop, pk_supervise_report *report)
{
    pk__clear_error();
    (void)cmd, (void)opts, (void)on_event, (void)stop_when, (void)user, (void)stop, (void)report;
    return NOT_ON_WINDOWS("pk_supervise");
}
