/* libFuzzer target: the command builder and the versioned-struct entry
 * points, driven by arbitrary bytes. Nothing here runs a process: the point
 * is that no input, however malformed, crashes or leaks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "processkit.h"

typedef struct reader {
    const uint8_t *data;
    size_t left;
} reader;

static uint8_t take_byte(reader *r)
{
    if (!r->left)
        return 0;
    r->left--;
    return *r->data++;
}

static uint32_t take_u32(reader *r)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = (v << 8) | take_byte(r);
    return v;
}

/* A NUL-terminated string of up to 64 bytes from the input. */
static void take_string(reader *r, char *buf)
{
    size_t n = take_byte(r) % 65;
    size_t i = 0;
    for (; i < n && r->left; i++)
        buf[i] = (char)take_byte(r);
    buf[i] = '\0';
}

/* A struct of up to 2 KiB whose first four bytes are its claimed size. */
static void take_struct(reader *r, uint8_t *buf, size_t cap)
{
    memset(buf, 0, cap);
    uint32_t size = take_u32(r) % (uint32_t)cap;
    memcpy(buf, &size, sizeof size);
    for (size_t i = sizeof size; i < size && r->left; i++)
        buf[i] = take_byte(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = {data, size};
    pk_command *cmd = NULL;
    char a[80], b[80];
    take_string(&r, a);
    if (pk_command_new(a, &cmd) != PK_OK)
        return 0;
    _Alignas(8) uint8_t blob[2048];
    for (int step = 0; step < 64 && r.left; step++) {
        switch (take_byte(&r) % 16) {
        case 0: take_string(&r, a); pk_command_arg(cmd, a); break;
        case 1: take_string(&r, a); take_string(&r, b); pk_command_env(cmd, a, b); break;
        case 2: take_string(&r, a); pk_command_env_unset(cmd, a); break;
        case 3: pk_command_env_clear(cmd); break;
        case 4: take_string(&r, a); pk_command_cwd(cmd, take_byte(&r) & 1 ? a : NULL); break;
        case 5: pk_command_flags(cmd, take_u32(&r)); break;
        case 6: pk_command_parent_death_signal(cmd, (int32_t)take_u32(&r)); break;
        case 7: take_string(&r, a); pk_command_stdin_bytes(cmd, a, strlen(a)); break;
        case 8: take_string(&r, a); pk_command_stdin_file(cmd, a); break;
        case 9: pk_command_stdin_fd(cmd, (int)take_u32(&r)); break;
        case 10:
            pk_command_output(cmd, (int32_t)(take_byte(&r) % 5) - 1, (int32_t)(take_byte(&r) % 7) - 1,
                              (int)take_u32(&r));
            break;
        case 11: pk_command_output_limit(cmd, take_byte(&r) % 4, ((uint64_t)take_u32(&r) << 8) | take_byte(&r),
                                         (int32_t)(take_byte(&r) % 5) - 1);
            break;
        case 12: pk_command_timeout(cmd, take_u32(&r), (int32_t)take_u32(&r), take_u32(&r)); break;
        case 13: {
            int32_t codes[8];
            size_t n = take_byte(&r) % 9;
            for (size_t i = 0; i < n; i++)
                codes[i] = (int32_t)take_u32(&r);
            pk_command_ok_codes(cmd, codes, n);
            break;
        }
        case 14:
            take_struct(&r, blob, sizeof blob);
            pk_command_group_options(cmd, (const pk_group_options *)blob);
            break;
        default: {
            /* Output structs of any claimed size must be written within it. */
            take_struct(&r, blob, sizeof blob);
            uint32_t claimed;
            memcpy(&claimed, blob, sizeof claimed);
            int canary = claimed >= sizeof claimed && claimed < sizeof blob - 8;
            if (canary)
                blob[claimed] = 0xA5;
            pk_host_probe((int32_t)(take_byte(&r) % 5) - 1, (pk_containment *)blob);
            if (canary && blob[claimed] != 0xA5)
                abort();
            break;
        }
        }
    }
    pk_command_free(cmd);
    return 0;
}
