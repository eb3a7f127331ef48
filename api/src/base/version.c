#include "processkit.h"

#define PK_STR2(x) #x
#define PK_STR(x) PK_STR2(x)

uint32_t pk_version(void)
{
    return PK_VERSION_NUMBER;
}

const char *pk_version_string(void)
{
    return PK_STR(PK_VERSION_MAJOR) "." PK_STR(PK_VERSION_MINOR) "." PK_STR(PK_VERSION_PATCH);
}
