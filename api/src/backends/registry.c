/* The backend registry (which tables this build has, in the order auto
 * tries them), and the pid list the backends fill. */
#include <stdlib.h>

#include "backend.h"
#include "error.h"

/* Adding a backend is one table, one row here and one pk_backend value. */
static const pk_backend_row rows[] = {
#ifdef _WIN32
    {PK_BACKEND_JOB_OBJECT, &pk__backend_job_object, NULL},
    {PK_BACKEND_CGROUP_V2, NULL, "cgroup-v2 exists only on Linux"},
    {PK_BACKEND_PROCESS_GROUP, NULL, "process groups exist only on POSIX systems"},
#else
    {PK_BACKEND_CGROUP_V2, &pk__backend_cgroup_v2, NULL},
    {PK_BACKEND_PROCESS_GROUP, &pk__backend_process_group, NULL},
    {PK_BACKEND_JOB_OBJECT, NULL, "job objects exist only on Windows"},
#endif
};

const pk_backend_row *pk__backend_rows(size_t *count)
{
    *count = sizeof rows / sizeof rows[0];
    return rows;
}

const pk_backend_row *pk__backend_row(int backend_id)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (rows[i].id == backend_id)
            return &rows[i];
    return NULL;
}

int pk__pid_list_push(pk_pid_list *list, int32_t pid)
{
    if (list->len == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 16;
        int32_t *grown = realloc(list->pids, cap * sizeof *grown);
        if (!grown)
            return pk__fail(PK_ERR_NOMEM, "out of memory for a pid list");
        list->pids = grown;
        list->cap = cap;
    }
    list->pids[list->len++] = pid;
    return PK_OK;
}

void pk__pid_list_free(pk_pid_list *list)
{
    free(list->pids);
    list->pids = NULL;
    list->len = list->cap = 0;
}
