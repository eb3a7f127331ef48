/* Versioned structs across the ABI: every public struct starts with
 * `uint32_t size`, and these helpers move one between a caller (older,
 * newer or current) and the library's own definition. */
#ifndef PK_ABI_STRUCT_H
#define PK_ABI_STRUCT_H

#include <stddef.h>
#include <stdint.h>

/* The end offsets of a struct's fields, in order: the only sizes an older
 * caller can have been compiled with. */
typedef struct pk_struct_layout {
    const char *name;
    size_t size;               /* this library's sizeof */
    const size_t *field_ends;  /* ascending, last == size */
    size_t field_count;
} pk_struct_layout;

/* How far past this library's struct a newer caller's size may reach (see
 * "Versioned structs" in processkit.h); beyond it the size is refused. */
#define PK__STRUCT_GROWTH_MAX 1024u

#define PK_FIELD_END(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* Fills dst (this library's struct, pre-filled with defaults) from a caller's
 * struct. An older (smaller) caller leaves the later fields at their default;
 * a newer (larger) one is accepted only when its unknown tail is all zero. */
int pk__struct_in(const pk_struct_layout *layout, void *dst, const void *src, const char *param);

/* Checks a caller's output struct's size before any work is done. */
int pk__struct_check(const pk_struct_layout *layout, const void *dst, const char *param);

/* Writes the library's filled-in struct src into the caller's dst, up to the
 * caller's size. dst's size field is left as the caller set it. */
int pk__struct_out(const pk_struct_layout *layout, void *dst, const void *src, const char *param);

extern const pk_struct_layout pk__layout_containment;
extern const pk_struct_layout pk__layout_group_options;
extern const pk_struct_layout pk__layout_spawn_options;
extern const pk_struct_layout pk__layout_group_stats;
extern const pk_struct_layout pk__layout_shutdown_options;
extern const pk_struct_layout pk__layout_shutdown_report;
extern const pk_struct_layout pk__layout_exit_status;
extern const pk_struct_layout pk__layout_run_info;
extern const pk_struct_layout pk__layout_retry_options;
extern const pk_struct_layout pk__layout_supervise_options;
extern const pk_struct_layout pk__layout_supervise_report;
extern const pk_struct_layout pk__layout_readiness_info;

#endif
