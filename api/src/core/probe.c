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
    const pk_backend_row *named = backend == PK_BACKEND_AUTO ? NULL : pk__backend_row(backend);
    if (backend != PK_BACKEND_AUTO && !named)
        return pk__fail(PK_ERR_INVALID, "pk_host_probe: backend %d is not a pk_backend", (int)backend);
    pk_containment c;
    memset(&c, 0, sizeof c);
    c.size = sizeof c;
    c.mechanism = PK_MECHANISM_NONE;

    /* Host facts come from every mechanism built here, chosen or not. */
    size_t count;
    const pk_backend_row *rows = pk__backend_rows(&count);
    for (size_t i = 0; i < count; i++)
        if (rows[i].ops && rows[i].ops->version >= 2 && rows[i].ops->describe_host)
            rows[i].ops->describe_host(&c);

    if (named) {
        rows = named;
        count = 1;
        if (!named->ops)
            pk__format(c.reason, sizeof c.reason, "%s", named->absent);
    }
    /* The same walk as pk_group_create: the first available, strongest first. */
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        if (!rows[i].ops)
            continue;
        pk_backend_probe p;
        rows[i].ops->probe(&p);
        if (p.available) {
            c.mechanism = rows[i].ops->mechanism;
            c.features = p.features;
            break;
        }
        if (named)
            pk__format(c.reason, sizeof c.reason, "%s", p.reason);
        else if (used + 1 < sizeof c.reason)
            pk__format(c.reason + used, sizeof c.reason - used, "%s%s unavailable: %s", used ? "; " : "",
                       rows[i].ops->name, p.reason);
        used = strlen(c.reason);
    }
    return pk__struct_out(&pk__layout_containment, out, &c, "pk_host_probe: out");
}
