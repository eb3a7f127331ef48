#include "win_cmdline.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

/* The length of arg once quoted by append_quoted. */
static size_t quoted_len(const char *arg)
{
    size_t n = 2, slashes = 0;
    for (const char *p = arg; *p; p++) {
        if (*p == '\\') {
            slashes++;
        } else {
            if (*p == '"')
                n += slashes + 1; /* the backslashes doubled, and one for the quote */
            slashes = 0;
        }
        n++;
    }
    return n + slashes; /* trailing backslashes doubled before the closing quote */
}

static int needs_quotes(const char *arg)
{
    return !arg[0] || strpbrk(arg, " \t\n\v\"") != NULL;
}

/* The argument between quotes: a run of backslashes is literal unless a
 * quote follows it, where the parser halves it, so double it there; a
 * literal quote is \". */
static char *append_quoted(char *out, const char *arg)
{
    *out++ = '"';
    size_t slashes = 0;
    for (const char *p = arg; *p; p++) {
        if (*p == '\\') {
            slashes++;
            continue;
        }
        if (*p == '"') {
            for (size_t i = 0; i < slashes * 2 + 1; i++)
                *out++ = '\\';
        } else {
            for (size_t i = 0; i < slashes; i++)
                *out++ = '\\';
        }
        slashes = 0;
        *out++ = *p;
    }
    for (size_t i = 0; i < slashes * 2; i++)
        *out++ = '\\';
    *out++ = '"';
    return out;
}

int pk__win_cmdline(const char *const *argv, char **out)
{
    if (!argv || !argv[0])
        return pk__fail(PK_ERR_INVALID, "an empty argv has no command line");
    /* The program name ends at the first space unless quoted, and quotes in
     * it only toggle: no escape exists for a literal quote. */
    if (strchr(argv[0], '"'))
        return pk__fail(PK_ERR_INVALID, "the program name %s contains a double quote, which Windows cannot pass",
                        argv[0]);
    size_t total = strlen(argv[0]) + 3;
    for (size_t i = 1; argv[i]; i++)
        total += 1 + (needs_quotes(argv[i]) ? quoted_len(argv[i]) : strlen(argv[i]));
    char *line = malloc(total + 1);
    if (!line)
        return pk__fail(PK_ERR_NOMEM, "out of memory for a command line");
    char *w = line;
    const int quote0 = !argv[0][0] || strpbrk(argv[0], " \t") != NULL;
    if (quote0)
        *w++ = '"';
    size_t n0 = strlen(argv[0]);
    memcpy(w, argv[0], n0);
    w += n0;
    if (quote0)
        *w++ = '"';
    for (size_t i = 1; argv[i]; i++) {
        *w++ = ' ';
        if (needs_quotes(argv[i])) {
            w = append_quoted(w, argv[i]);
        } else {
            size_t n = strlen(argv[i]);
            memcpy(w, argv[i], n);
            w += n;
        }
    }
    *w = '\0';
    *out = line;
    return PK_OK;
}
