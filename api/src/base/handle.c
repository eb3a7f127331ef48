#include "handle.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* A handle value is (slot index + 1) << GEN_BITS | generation: it never
 * points at memory. On 64-bit hosts a slot has 2^44 generations and one
 * whose generation would wrap is retired for good, so a handle value is
 * never issued twice: a freed handle can never alias a live object. */
#define INDEX_BITS 20
#define GEN_BITS (sizeof(uintptr_t) * 8 - INDEX_BITS)
#define GEN_MASK ((((uintptr_t)1) << GEN_BITS) - 1)
#define SLOTS_PER_CHUNK 256
#define MAX_CHUNKS (((int32_t)1 << INDEX_BITS) / SLOTS_PER_CHUNK - 1)

typedef struct slot {
    pk_object *obj;
    uintptr_t gen;
    int type;
    int32_t next_free; /* index in the FIFO of free slots, -1 = end */
} slot;

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static slot *chunks[MAX_CHUNKS];
static int32_t chunk_count;
static int32_t free_head = -1, free_tail = -1;

static slot *slot_at(int32_t index)
{
    return &chunks[index / SLOTS_PER_CHUNK][index % SLOTS_PER_CHUNK];
}

static int grow(void)
{
    if (chunk_count == MAX_CHUNKS)
        return PK_ERR_NOMEM;
    /* Chunks live as long as the library, so they are never freed. */
    slot *chunk = calloc(SLOTS_PER_CHUNK, sizeof(slot));
    if (!chunk)
        return PK_ERR_NOMEM;
    int32_t base = chunk_count * SLOTS_PER_CHUNK;
    chunks[chunk_count++] = chunk;
    for (int32_t i = 0; i < SLOTS_PER_CHUNK; i++) {
        chunk[i].next_free = -1;
        if (free_tail >= 0)
            slot_at(free_tail)->next_free = base + i;
        else
            free_head = base + i;
        free_tail = base + i;
    }
    return PK_OK;
}

/* The slot a handle value names, or NULL if it is not one of ours. */
static slot *find_slot(const void *handle, uintptr_t *gen, int32_t *index)
{
    uintptr_t v = (uintptr_t)handle;
    uintptr_t i = v >> GEN_BITS;
    if (i == 0 || i > (uintptr_t)chunk_count * SLOTS_PER_CHUNK)
        return NULL;
    *gen = v & GEN_MASK;
    *index = (int32_t)(i - 1);
    return slot_at(*index);
}

void pk__object_init(pk_object *obj, int type, void (*destroy)(pk_object *))
{
    atomic_init(&obj->refs, 1);
    obj->type = type;
    obj->destroy = destroy;
}

void pk__object_ref(pk_object *obj)
{
    atomic_fetch_add_explicit(&obj->refs, 1, memory_order_relaxed);
}

void pk__object_unref(pk_object *obj)
{
    if (obj && atomic_fetch_sub_explicit(&obj->refs, 1, memory_order_acq_rel) == 1)
        obj->destroy(obj);
}

int pk__handle_new(pk_object *obj, void **handle)
{
    pthread_mutex_lock(&table_lock);
    if (free_head < 0 && grow() != PK_OK) {
        pthread_mutex_unlock(&table_lock);
        return pk__fail(PK_ERR_NOMEM, "out of memory for a new handle");
    }
    int32_t index = free_head;
    slot *s = slot_at(index);
    free_head = s->next_free;
    if (free_head < 0)
        free_tail = -1;
    s->obj = obj;
    s->type = obj->type;
    s->next_free = -1;
    *handle = (void *)((((uintptr_t)index + 1) << GEN_BITS) | s->gen);
    pthread_mutex_unlock(&table_lock);
    return PK_OK;
}

static const char *type_name(int type)
{
    switch (type) {
    case PK_OBJ_GROUP: return "pk_group";
    case PK_OBJ_CHILD: return "pk_child";
    case PK_OBJ_COMMAND: return "pk_command";
    case PK_OBJ_LOOP: return "pk_loop";
    case PK_OBJ_PROCESS: return "pk_process";
    case PK_OBJ_RESULT: return "pk_result";
    case PK_OBJ_CANCEL: return "pk_cancel";
    case PK_OBJ_PIPELINE: return "pk_pipeline";
    default: return "handle";
    }
}

static int lookup(const void *handle, int type, const char *param, slot **out, int32_t *out_index)
{
    if (!handle)
        return pk__fail(PK_ERR_HANDLE, "%s: NULL %s", param, type_name(type));
    uintptr_t gen;
    int32_t index;
    slot *s = find_slot(handle, &gen, &index);
    if (!s)
        return pk__fail(PK_ERR_HANDLE, "%s: not a %s handle from this library", param, type_name(type));
    if (!s->obj || s->gen != gen)
        return pk__fail(PK_ERR_HANDLE, "%s: this %s was already freed", param, type_name(type));
    if (s->type != type)
        return pk__fail(PK_ERR_HANDLE, "%s: expected a %s, got a %s", param, type_name(type), type_name(s->type));
    *out = s;
    if (out_index)
        *out_index = index;
    return PK_OK;
}

int pk__handle_get(const void *handle, int type, const char *param, pk_object **obj)
{
    slot *s;
    pthread_mutex_lock(&table_lock);
    int rc = lookup(handle, type, param, &s, NULL);
    if (rc == PK_OK) {
        pk__object_ref(s->obj);
        *obj = s->obj;
    }
    pthread_mutex_unlock(&table_lock);
    return rc;
}

int pk__handle_retire(const void *handle, int type, const char *param, pk_object **obj)
{
    slot *s;
    pthread_mutex_lock(&table_lock);
    int32_t index;
    int rc = lookup(handle, type, param, &s, &index);
    if (rc == PK_OK) {
        *obj = s->obj;
        s->obj = NULL;
        s->next_free = -1;
        s->gen = (s->gen + 1) & GEN_MASK;
        /* A slot that has used every generation is retired, never reissued. */
        if (s->gen != 0) {
            if (free_tail >= 0)
                slot_at(free_tail)->next_free = index;
            else
                free_head = index;
            free_tail = index;
        }
    }
    pthread_mutex_unlock(&table_lock);
    return rc;
}
