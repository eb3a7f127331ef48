/* pk_host_probe: what a group would get here, without creating anything. */
#include <string.h>

#include "abi_struct.h"
#include "backend.h"
#include "error.h"

int pk_host_probe(int32_t backend, pk_containment *out)
{
    pk__clear_error();
    if (!out)
        return pk__fail(PK_ERR_INVALID, "pk_host_probe: out is NULL");
    if (backend < PK_BACKEND_AUTO || backend > PK_BACKEND_JOB_OBJECT)
        return pk__fail(PK_ERR_INVALID, "pk_host_probe: backend %d is not a pk_backend", (int)backend);
    pk_containment c;
    memset(&c, 0, sizeof c);
    c.size = sizeof c;

#ifdef _WIN32
    if (backend == PK_BACKEND_AUTO || backend == PK_BACKEND_JOB_OBJECT) {
        pk_backend_probe job;
        pk__backend_job_object.probe(&job);
        c.mechanism = PK_MECHANISM_JOB_OBJECT;
        c.features = job.features;
    } else {
        c.mechanism = PK_MECHANISM_NONE;
        pk__format(c.reason, sizeof c.reason, "%s",
                   backend == PK_BACKEND_CGROUP_V2 ? "cgroup-v2 exists only on Linux"
                                                   : "process groups exist only on POSIX systems");
    }
#else
    pk_backend_probe cg;
    pk__backend_cgroup_v2.probe(&cg);
    pk__format(c.cgroup_mount, sizeof c.cgroup_mount, "%s", cg.cgroup_mount);

    if (backend == PK_BACKEND_JOB_OBJECT) {
        c.mechanism = PK_MECHANISM_NONE;
        pk__format(c.reason, sizeof c.reason, "job objects exist only on Windows");
    } else if (backend == PK_BACKEND_CGROUP_V2 || (backend == PK_BACKEND_AUTO && cg.available)) {
        c.mechanism = cg.available ? PK_MECHANISM_CGROUP_V2 : PK_MECHANISM_NONE;
        c.features = cg.available ? cg.features : 0;
        pk__format(c.reason, sizeof c.reason, "%s", cg.reason);
    } else {
        pk_backend_probe pg;
        pk__backend_process_group.probe(&pg);
        c.mechanism = PK_MECHANISM_PROCESS_GROUP;
        c.features = pg.features;
        if (backend == PK_BACKEND_AUTO)
            pk__format(c.reason, sizeof c.reason, "cgroup-v2 unavailable: %s", cg.reason);
    }
#endif
    return pk__struct_out(&pk__layout_containment, out, &c, "pk_host_probe: out");
}
