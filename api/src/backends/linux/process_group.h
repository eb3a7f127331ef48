/* Entry points of the process-group backend that unit tests reach past the
 * ops table, to check its probe semantics on hand-made entries. */
#ifndef PK_PROCESS_GROUP_H
#define PK_PROCESS_GROUP_H

#include <sys/types.h>

#include "backend.h"

/* Tracks id as a group (group != 0) or a solo pid, with the latch preset. */
int pk__pgroup_track_entry(void *state, pid_t id, int pidfd, int group, int group_seen);
/* Whether the tracked entry id probes alive (1), or is gone or unknown (0). */
int pk__pgroup_entry_alive(void *state, pid_t id);

#endif
