/* Captured output: a byte buffer with a cap and an overflow policy, and a
 * line splitter for callbacks. Binary-safe; lines are split on '\n' only. */
#ifndef PK_OUTPUT_H
#define PK_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct pk_capture {
    uint8_t *buf;
    size_t len;      /* bytes kept (for KEEP_TAIL, the ring's fill) */
    size_t alloc;
    size_t head;     /* KEEP_TAIL: index of the oldest byte in the ring */
    uint64_t limit;  /* 0 = no cap */
    int policy;      /* pk_overflow */
    uint64_t total;  /* bytes seen */
    int truncated;
} pk_capture;

void pk__capture_init(pk_capture *c, uint64_t limit, int policy);
/* Space to read straight into (NULL when the next bytes would not be kept
 * as they come, e.g. a full ring): at least min bytes, or fewer if the cap
 * leaves fewer. */
uint8_t *pk__capture_reserve(pk_capture *c, size_t min, size_t *avail);
/* Accounts for n bytes read into the reserved space. */
void pk__capture_commit(pk_capture *c, size_t n);
/* Adds bytes read elsewhere. Returns 0, or -1 when out of memory. */
int pk__capture_append(pk_capture *c, const uint8_t *data, size_t n);
/* Puts a ring in order and hands the bytes over (caller frees). */
uint8_t *pk__capture_take(pk_capture *c, size_t *len);
void pk__capture_free(pk_capture *c);

/* Longest line held before it is delivered in pieces. */
#define PK_MAX_LINE (1u << 20)

typedef void (*pk_emit_fn)(void *ctx, int stream, const char *line, size_t len);

typedef struct pk_lines {
    char *partial;
    size_t len, alloc;
} pk_lines;

void pk__lines_feed(pk_lines *l, const uint8_t *data, size_t n, int stream, pk_emit_fn emit, void *ctx);
/* Delivers a final line that had no newline. */
void pk__lines_flush(pk_lines *l, int stream, pk_emit_fn emit, void *ctx);
void pk__lines_free(pk_lines *l);

#endif
