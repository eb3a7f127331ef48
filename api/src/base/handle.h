/* Opaque handles that survive caller mistakes.
 *
 * A handle is never a pointer to the object itself: it points into a slot of
 * a table the library never frees, offset by the slot's generation. Looking
 * one up checks the slot, the generation and the type, so a NULL, forged,
 * freed or wrong-type handle is an error instead of a wild read. Objects are
 * reference counted: a lookup holds a reference for the duration of the call,
 * so freeing a handle on one thread while another uses it is safe. */
#ifndef PK_HANDLE_H
#define PK_HANDLE_H

#include <stdatomic.h>
#include <stdint.h>

enum pk_object_type {
    PK_OBJ_GROUP = 1,
    PK_OBJ_CHILD = 2,
    PK_OBJ_COMMAND = 3,
    PK_OBJ_LOOP = 4,
    PK_OBJ_PROCESS = 5,
    PK_OBJ_RESULT = 6,
    PK_OBJ_CANCEL = 7,
    PK_OBJ_PIPELINE = 8,
};

typedef struct pk_object {
    atomic_uint refs;
    int type;
    void (*destroy)(struct pk_object *obj); /* runs when the last reference goes */
} pk_object;

/* Starts obj with one reference, owned by whoever later retires the handle. */
void pk__object_init(pk_object *obj, int type, void (*destroy)(pk_object *));
void pk__object_ref(pk_object *obj);
void pk__object_unref(pk_object *obj);

/* Publishes obj and returns its handle value (the table takes over the
 * initial reference). PK_ERR_NOMEM on failure, obj untouched. */
int pk__handle_new(pk_object *obj, void **handle);

/* Looks a handle up: on success *obj holds a new reference the caller must
 * drop with pk__object_unref. */
int pk__handle_get(const void *handle, int type, const char *param, pk_object **obj);

/* Invalidates the handle and returns the object with the table's reference
 * transferred to the caller (who unrefs it when done tearing down). */
int pk__handle_retire(const void *handle, int type, const char *param, pk_object **obj);

#endif
