/* Building a Windows command line from an argv. Windows passes a child one
 * string; the child's C runtime (and CommandLineToArgvW) splits it back
 * with the MSVCRT rules, so quoting must invert those rules exactly: a
 * mistake lets an argument smuggle in extra arguments. Portable C, so the
 * Linux suite tests it too. */
#ifndef PK_WIN_CMDLINE_H
#define PK_WIN_CMDLINE_H

#include <stddef.h>

/* Returns a malloc'd UTF-8 command line in *out. Fails with PK_ERR_INVALID
 * when argv[0] cannot be represented (it contains a double quote: the
 * program-name rules have no escape for one) and PK_ERR_NOMEM. */
int pk__win_cmdline(const char *const *argv, char **out);

#endif
