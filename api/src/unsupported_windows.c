/* Pipelines, built on the Linux loop only so far. The entry points exist on
 * Windows so the DLL exports the same ABI, and say plainly that the
 * platform lacks them instead of pretending. */
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
