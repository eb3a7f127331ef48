/* A token's waitable object on Windows: a manual-reset event, which stays
 * signalled for every loop that waits on it. */
#include "cancel.h"
#include "sys_windows.h"

int pk__cancel_os_open(pk_cancel_obj *token)
{
    token->event = CreateEventW(NULL, TRUE, FALSE, NULL);
    return token->event ? PK_OK : pk__fail_win(PK_ERR_OS, GetLastError(), "pk_cancel_new: CreateEvent");
}

void pk__cancel_os_signal(pk_cancel_obj *token)
{
    SetEvent(token->event);
}

void pk__cancel_os_close(pk_cancel_obj *token)
{
    CloseHandle(token->event);
}

pk_wait_ref pk__cancel_wait_any(pk_cancel_obj *a, pk_cancel_obj *b, pk_cancel_wait *storage)
{
    storage->set.count = 0;
    if (a)
        storage->set.handles[storage->set.count++] = a->event;
    if (b && !(a && a->event == b->event)) /* a wait may not name one handle twice */
        storage->set.handles[storage->set.count++] = b->event;
    return storage->set.count ? &storage->set : PK_WAIT_NONE;
}

void pk__cancel_wait_release(pk_cancel_wait *storage)
{
    storage->set.count = 0; /* the events stay the tokens' */
}
