/* Cancellation tokens: a waitable object (an eventfd on Linux, an event on
 * Windows) that turns ready, forever, once triggered, so any number of
 * loops can watch one token. */
#ifndef PK_CANCEL_H
#define PK_CANCEL_H

#include <stdatomic.h>

#include "handle.h"
#include "platform.h"

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

/* A waitable that turns ready once either token triggers (either may be
 * NULL; PK_WAIT_NONE when both are). @storage holds what it needs until
 * pk__cancel_wait_release. */
typedef struct pk_cancel_wait {
#ifdef _WIN32
    pk_wait_set set;
#else
    int epfd; /* an epoll set of two eventfds, or -1 */
#endif
} pk_cancel_wait;
pk_wait_ref pk__cancel_wait_any(pk_cancel_obj *a, pk_cancel_obj *b, pk_cancel_wait *storage);
void pk__cancel_wait_release(pk_cancel_wait *storage);

/* Per OS: create, trigger and close the waitable object. */
int pk__cancel_os_open(pk_cancel_obj *token);
void pk__cancel_os_signal(pk_cancel_obj *token);
void pk__cancel_os_close(pk_cancel_obj *token);

#endif
