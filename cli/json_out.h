/* A minimal JSON writer for pk's one-line reports. */
#ifndef PK_JSON_OUT_H
#define PK_JSON_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Writes bytes as a JSON string. Valid UTF-8 passes through; each byte of
 * an invalid sequence becomes \udcXX (the surrogateescape convention), so
 * the JSON stays valid and the bytes can be recovered. */
void pkcli_json_string(FILE *out, const uint8_t *data, size_t len);

#endif
