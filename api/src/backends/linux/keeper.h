/* The keeper: one small process per owner process that kills the owner's
 * cgroup leaves when the owner dies by any means, SIGKILL included.
 *
 * The owner holds the write end of a pipe whose read end only the keeper
 * has. The owner's death closes the pipe; the keeper sees end-of-file,
 * writes cgroup.kill in every leaf it was told about, waits for each to
 * empty, removes it and exits. While the owner lives, the keeper sleeps in
 * read(2) and costs nothing. */
#ifndef PK_KEEPER_H
#define PK_KEEPER_H

/* Tells the keeper (starting it on first use) to guard a cgroup directory.
 * Returns PK_OK, or an error when no keeper can be had (the group then
 * reports no owner-death guarantee). */
int pk__keeper_guard(const char *cgroup_dir);

/* The directory is gone or no longer ours to guard. */
void pk__keeper_release(const char *cgroup_dir);

/* The keeper's pid, or 0 when none runs (for tests). */
int pk__keeper_pid(void);

#endif
