/* Cancellation tokens: a waitable object (an eventfd on Linux, an event on
 * Windows) that turns ready, forever, once triggered, so any number of
 * loops can watch one token. */
#ifndef PK_CANCEL_H
#define PK_CANCEL_H

#include <stdatomic.h>

#include "handle.h"

typedef struct pk_cancel_obj {
    pk_object obj;
#ifdef _WIN32
    void *event;
#else
    int fd;
#endif
    atomic_int triggered;
} pk_cancel_obj;

int pk__cancel_is_triggered(pk_cancel_obj *token);

/* Per OS: create, trigger and close the waitable object. */
int pk__cancel_os_open(pk_cancel_obj *token);
void pk__cancel_os_signal(pk_cancel_obj *token);
void pk__cancel_os_close(pk_cancel_obj *token);

#endif
