/* libFuzzer target: pk's option parsers and its JSON string writer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_parse.h"
#include "json_out.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char err[256];
    uint32_t ms;
    int sig;
    uint64_t n;
    double cores;
    size_t at;
    if (pkcli_parse_duration_ms(text, &ms, err, sizeof err) != 0 && !err[0])
        abort(); /* a refusal always explains itself */
    if (pkcli_parse_signal(text, &sig, err, sizeof err) == 0 && (sig < 1 || sig > 64))
        abort();
    (void)pkcli_parse_size(text, &n, err, sizeof err);
    if (pkcli_parse_count(text, &n, err, sizeof err) == 0 && n == 0)
        abort();
    if (pkcli_parse_cores(text, &cores, err, sizeof err) == 0 && !(cores > 0))
        abort();
    if (pkcli_parse_env_pair(text, &at, err, sizeof err) == 0 && (at < 2 || at > size || text[at - 1] != '='))
        abort();
    /* pk timeout's GNU-style grammar: a refusal explains itself, and a
     * parsed signal is named. */
    uint64_t ns;
    err[0] = '\0';
    if (pkcli_parse_gnu_duration(text, &ns, err, sizeof err) != 0 && !err[0])
        abort();
    err[0] = '\0';
    if (pkcli_parse_gnu_signal(text, &sig, err, sizeof err) == 0) {
        char name[32];
        pkcli_gnu_signal_name(sig, name, sizeof name);
        if (sig < 0 || !name[0])
            abort();
    } else if (!err[0]) {
        abort();
    }

    /* The JSON writer's output must never hold a raw control byte or an
     * unescaped quote. */
    char *json = NULL;
    size_t json_len = 0;
    FILE *out = open_memstream(&json, &json_len);
    if (out) {
        pkcli_json_string(out, data, size);
        fclose(out);
        if (json_len < 2 || json[0] != '"' || json[json_len - 1] != '"')
            abort();
        for (size_t i = 1; i + 1 < json_len; i++) {
            unsigned char c = (unsigned char)json[i];
            if (c < 0x20)
                abort();
            if (c == '\\')
                i++;
            else if (c == '"')
                abort();
        }
        free(json);
    }
    free(text);
    return 0;
}
