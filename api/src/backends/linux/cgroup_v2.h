/* Helpers of the cgroup v2 backend that unit tests check directly. */
#ifndef PK_CGROUP_V2_H
#define PK_CGROUP_V2_H

#include <stddef.h>

#include "backend.h"

/* Whether a space-separated controller list names this controller. */
int pk__cgroup_has_controller(const char *list, const char *name);
/* The cpu.max line for a number of cores: "<quota> 100000", quota >= 1. */
void pk__cgroup_cpu_max(double cores, char *buf, size_t len);
/* Tests take the pre-5.14 kill path (freeze, SIGKILL sweep, thaw). */
void pk__cgroup_force_kill_fallback(int on);

#endif
