/* Cancellation tokens: an eventfd that turns readable, forever, once
 * triggered, so any number of loops can watch one token. */
#ifndef PK_CANCEL_H
#define PK_CANCEL_H

#include <stdatomic.h>

#include "handle.h"

typedef struct pk_cancel_obj {
    pk_object obj;
    int fd;
    atomic_int triggered;
} pk_cancel_obj;

int pk__cancel_is_triggered(pk_cancel_obj *token);

#endif
