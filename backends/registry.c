/* Backend lookup by id, and the pid list the backends fill. */
#include <stdlib.h>

#include "backend.h"
#include "error.h"

const pk_backend_ops *pk__backend_for(int backend_id)
{
    switch (backend_id) {
#ifdef _WIN32
    case PK_BACKEND_JOB_OBJECT: return &pk__backend_job_object;
#else
    case PK_BACKEND_CGROUP_V2: return &pk__backend_cgroup_v2;
    case PK_BACKEND_PROCESS_GROUP: return &pk__backend_process_group;
#endif
    default: return NULL;
    }
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
