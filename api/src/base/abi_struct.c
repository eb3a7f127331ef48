#include "abi_struct.h"

#include <string.h>

#include "error.h"
#include "processkit.h"

static int check_size(const pk_struct_layout *layout, uint32_t size, const char *param)
{
    if (size < sizeof(uint32_t))
        return pk__fail(PK_ERR_INVALID, "%s: size %u is smaller than the size field itself (set it with %s_INIT)",
                        param, size, layout->name);
    /* A newer caller may add fields, but never this many: a wild size would
     * send the zero-tail check far past the caller's struct. */
    if (size > layout->size + PK__STRUCT_GROWTH_MAX)
        return pk__fail(PK_ERR_VERSION,
                        "%s: size %u is more than %u bytes past the %zu bytes of %s this library (%s) knows; "
                        "no later version grows a struct that far",
                        param, size, (unsigned)PK__STRUCT_GROWTH_MAX, layout->size, layout->name,
                        pk_version_string());
    if (size == sizeof(uint32_t) || size >= layout->size)
        return PK_OK;
    for (size_t i = 0; i < layout->field_count; i++)
        if (layout->field_ends[i] == size)
            return PK_OK;
    return pk__fail(PK_ERR_INVALID, "%s: size %u ends inside a field of %s", param, size, layout->name);
}

int pk__struct_in(const pk_struct_layout *layout, void *dst, const void *src, const char *param)
{
    uint32_t size;
    memcpy(&size, src, sizeof size);
    int rc = check_size(layout, size, param);
    if (rc != PK_OK)
        return rc;
    if (size > layout->size) {
        const unsigned char *tail = (const unsigned char *)src + layout->size;
        for (size_t i = 0; i < size - layout->size; i++)
            if (tail[i] != 0)
                return pk__fail(PK_ERR_VERSION,
                                "%s: byte %zu of %s is set, but this library (%s) knows only %zu bytes of it",
                                param, layout->size + i, layout->name, pk_version_string(), layout->size);
        size = (uint32_t)layout->size;
    }
    memcpy((char *)dst + sizeof(uint32_t), (const char *)src + sizeof(uint32_t), size - sizeof(uint32_t));
    return PK_OK;
}

int pk__struct_check(const pk_struct_layout *layout, const void *dst, const char *param)
{
    uint32_t size;
    memcpy(&size, dst, sizeof size);
    return check_size(layout, size, param);
}

int pk__struct_out(const pk_struct_layout *layout, void *dst, const void *src, const char *param)
{
    uint32_t size;
    memcpy(&size, dst, sizeof size);
    int rc = check_size(layout, size, param);
    if (rc != PK_OK)
        return rc;
    if (size > layout->size) {
        /* A newer caller: zero what we do not know, so it reads defaults. */
        memset((char *)dst + layout->size, 0, size - layout->size);
        size = (uint32_t)layout->size;
    }
    memcpy((char *)dst + sizeof(uint32_t), (const char *)src + sizeof(uint32_t), size - sizeof(uint32_t));
    return PK_OK;
}

#define LAYOUT(var, type, ...)                                                           \
    static const size_t var##_ends[] = {__VA_ARGS__};                                    \
    const pk_struct_layout var = {#type, sizeof(type), var##_ends, sizeof var##_ends / sizeof var##_ends[0]}

LAYOUT(pk__layout_containment, pk_containment, PK_FIELD_END(pk_containment, mechanism),
       PK_FIELD_END(pk_containment, features), PK_FIELD_END(pk_containment, reserved),
       PK_FIELD_END(pk_containment, reason), PK_FIELD_END(pk_containment, cgroup_mount),
       PK_FIELD_END(pk_containment, cgroup_path));
LAYOUT(pk__layout_group_options, pk_group_options, PK_FIELD_END(pk_group_options, backend),
       PK_FIELD_END(pk_group_options, min_mechanism), PK_FIELD_END(pk_group_options, parent_death_signal),
       PK_FIELD_END(pk_group_options, memory_max), PK_FIELD_END(pk_group_options, pids_max),
       PK_FIELD_END(pk_group_options, cpu_max), PK_FIELD_END(pk_group_options, flags));
LAYOUT(pk__layout_spawn_options, pk_spawn_options, PK_FIELD_END(pk_spawn_options, flags),
       PK_FIELD_END(pk_spawn_options, program), PK_FIELD_END(pk_spawn_options, argv),
       PK_FIELD_END(pk_spawn_options, envp), PK_FIELD_END(pk_spawn_options, cwd),
       PK_FIELD_END(pk_spawn_options, stdin_fd), PK_FIELD_END(pk_spawn_options, stdout_fd),
       PK_FIELD_END(pk_spawn_options, stderr_fd), PK_FIELD_END(pk_spawn_options, parent_death_signal));
LAYOUT(pk__layout_group_stats, pk_group_stats, PK_FIELD_END(pk_group_stats, live_processes),
       PK_FIELD_END(pk_group_stats, cpu_time_us), PK_FIELD_END(pk_group_stats, peak_memory_bytes));
LAYOUT(pk__layout_shutdown_options, pk_shutdown_options, PK_FIELD_END(pk_shutdown_options, signal),
       PK_FIELD_END(pk_shutdown_options, grace_ms), PK_FIELD_END(pk_shutdown_options, escalate));
LAYOUT(pk__layout_shutdown_report, pk_shutdown_report, PK_FIELD_END(pk_shutdown_report, members_before),
       PK_FIELD_END(pk_shutdown_report, members_after), PK_FIELD_END(pk_shutdown_report, drained),
       PK_FIELD_END(pk_shutdown_report, escalated), PK_FIELD_END(pk_shutdown_report, reserved),
       PK_FIELD_END(pk_shutdown_report, elapsed_us));
LAYOUT(pk__layout_exit_status, pk_exit_status, PK_FIELD_END(pk_exit_status, kind),
       PK_FIELD_END(pk_exit_status, code), PK_FIELD_END(pk_exit_status, signal),
       PK_FIELD_END(pk_exit_status, core_dumped));
LAYOUT(pk__layout_run_info, pk_run_info, PK_FIELD_END(pk_run_info, outcome), PK_FIELD_END(pk_run_info, exit_code),
       PK_FIELD_END(pk_run_info, signal), PK_FIELD_END(pk_run_info, pid), PK_FIELD_END(pk_run_info, mechanism),
       PK_FIELD_END(pk_run_info, success), PK_FIELD_END(pk_run_info, stdout_truncated),
       PK_FIELD_END(pk_run_info, stderr_truncated), PK_FIELD_END(pk_run_info, overflowed),
       PK_FIELD_END(pk_run_info, duration_us), PK_FIELD_END(pk_run_info, stdout_bytes),
       PK_FIELD_END(pk_run_info, stderr_bytes), PK_FIELD_END(pk_run_info, failed_stage),
       PK_FIELD_END(pk_run_info, stage_count));
LAYOUT(pk__layout_retry_options, pk_retry_options, PK_FIELD_END(pk_retry_options, max_attempts),
       PK_FIELD_END(pk_retry_options, initial_delay_ms), PK_FIELD_END(pk_retry_options, max_delay_ms),
       PK_FIELD_END(pk_retry_options, multiplier), PK_FIELD_END(pk_retry_options, jitter),
       PK_FIELD_END(pk_retry_options, reserved));
LAYOUT(pk__layout_supervise_options, pk_supervise_options, PK_FIELD_END(pk_supervise_options, restart),
       PK_FIELD_END(pk_supervise_options, max_restarts), PK_FIELD_END(pk_supervise_options, backoff_initial_ms),
       PK_FIELD_END(pk_supervise_options, backoff_max_ms), PK_FIELD_END(pk_supervise_options, jitter),
       PK_FIELD_END(pk_supervise_options, backoff_multiplier), PK_FIELD_END(pk_supervise_options, storm_restarts),
       PK_FIELD_END(pk_supervise_options, storm_window_ms), PK_FIELD_END(pk_supervise_options, storm_action),
       PK_FIELD_END(pk_supervise_options, storm_pause_ms));
LAYOUT(pk__layout_readiness_info, pk_readiness_info, PK_FIELD_END(pk_readiness_info, kind),
       PK_FIELD_END(pk_readiness_info, outcome), PK_FIELD_END(pk_readiness_info, stream),
       PK_FIELD_END(pk_readiness_info, port), PK_FIELD_END(pk_readiness_info, lines_seen),
       PK_FIELD_END(pk_readiness_info, waited_us), PK_FIELD_END(pk_readiness_info, last_line));
LAYOUT(pk__layout_supervise_report, pk_supervise_report, PK_FIELD_END(pk_supervise_report, runs),
       PK_FIELD_END(pk_supervise_report, restarts), PK_FIELD_END(pk_supervise_report, storm_pauses),
       PK_FIELD_END(pk_supervise_report, stop_reason), PK_FIELD_END(pk_supervise_report, reserved));

int pk_struct_size(int32_t id, size_t *size)
{
    pk__clear_error();
    static const pk_struct_layout *const by_id[] = {
        NULL,
        &pk__layout_containment,
        &pk__layout_group_options,
        &pk__layout_spawn_options,
        &pk__layout_group_stats,
        &pk__layout_shutdown_options,
        &pk__layout_shutdown_report,
        &pk__layout_exit_status,
        &pk__layout_run_info,
        &pk__layout_retry_options,
        &pk__layout_supervise_options,
        &pk__layout_supervise_report,
        &pk__layout_readiness_info,
    };
    if (!size)
        return pk__fail(PK_ERR_INVALID, "pk_struct_size: size is NULL");
    if (id <= 0 || (size_t)id >= sizeof by_id / sizeof by_id[0])
        return pk__fail(PK_ERR_INVALID, "pk_struct_size: %d is not a pk_struct_id", (int)id);
    *size = by_id[id]->size;
    return PK_OK;
}
