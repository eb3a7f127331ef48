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
