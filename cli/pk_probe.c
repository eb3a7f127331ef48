/* `pk probe`: what a group gets on this host, and why. The same on every OS. */
#include <stdio.h>
#include <string.h>

#include "json_out.h"
#include "pk_cli.h"

static void probe_line(FILE *out, int json, const char *name, int backend, int *first)
{
    pk_containment c = PK_CONTAINMENT_INIT;
    pk_host_probe(backend, &c);
    int available = c.mechanism != PK_MECHANISM_NONE;
    if (json) {
        fprintf(out, "%s{\"name\":\"%s\",\"available\":%s,\"reason\":", *first ? "" : ",", name,
                available ? "true" : "false");
        pkcli_json_string(out, (const uint8_t *)c.reason, strlen(c.reason));
        fputc('}', out);
    } else {
        fprintf(out, "  %-14s %s%s%s\n", name, available ? "available" : "unavailable", c.reason[0] ? ": " : "",
                c.reason);
    }
    *first = 0;
}

int pkcli_cmd_probe(int argc, char **argv)
{
    int json = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else
            return pkcli_die("unknown option '%s' for probe", argv[i]);
    }
    pk_containment c = PK_CONTAINMENT_INIT;
    if (pk_host_probe(PK_BACKEND_AUTO, &c) != PK_OK)
        return pkcli_die("%s", pk_last_error());
    const uint32_t limit_bits = PK_FEATURE_LIMIT_MEMORY | PK_FEATURE_LIMIT_PIDS | PK_FEATURE_LIMIT_CPU;
    FILE *out = stdout;
    int first = 1;
    if (json) {
        fprintf(out, "{\"mechanism\":\"%s\",\"reason\":", pk_mechanism_name(c.mechanism));
        pkcli_json_string(out, (const uint8_t *)c.reason, strlen(c.reason));
        fputs(",\"backends\":[", out);
        probe_line(out, 1, "cgroup-v2", PK_BACKEND_CGROUP_V2, &first);
        probe_line(out, 1, "process-group", PK_BACKEND_PROCESS_GROUP, &first);
        probe_line(out, 1, "job-object", PK_BACKEND_JOB_OBJECT, &first);
        fputs("],\"cgroup2_mount\":", out);
        if (c.cgroup_mount[0])
            pkcli_json_string(out, (const uint8_t *)c.cgroup_mount, strlen(c.cgroup_mount));
        else
            fputs("null", out);
        fprintf(out,
                ",\"limits\":{\"memory\":%s,\"pids\":%s,\"cpu\":%s},\"contains_setsid\":%s,\"version\":\"%s\"}\n",
                (c.features & PK_FEATURE_LIMIT_MEMORY) ? "true" : "false",
                (c.features & PK_FEATURE_LIMIT_PIDS) ? "true" : "false",
                (c.features & PK_FEATURE_LIMIT_CPU) ? "true" : "false",
                (c.features & PK_FEATURE_CONTAINS_SETSID) ? "true" : "false", pk_version_string());
    } else {
        fprintf(out, "mechanism: %s%s%s\n", pk_mechanism_name(c.mechanism), c.reason[0] ? " (" : "", c.reason);
        if (c.reason[0])
            fputs(")\n", out);
        fputs("backends:\n", out);
        probe_line(out, 0, "cgroup-v2", PK_BACKEND_CGROUP_V2, &first);
        probe_line(out, 0, "process-group", PK_BACKEND_PROCESS_GROUP, &first);
        probe_line(out, 0, "job-object", PK_BACKEND_JOB_OBJECT, &first);
        fprintf(out, "cgroup2 mount: %s\n", c.cgroup_mount[0] ? c.cgroup_mount : "none");
        fprintf(out, "limits: %s\n",
                (c.features & limit_bits) == limit_bits ? "enforceable"
                : (c.features & limit_bits)              ? "partly enforceable"
                                                         : "not enforceable on this host");
        fprintf(out, "setsid escapes contained: %s\n", (c.features & PK_FEATURE_CONTAINS_SETSID) ? "yes" : "no");
    }
    return 0;
}
