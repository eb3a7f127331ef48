/* The program every C consumer builds (c_amalgamation.sh, cmake.sh,
 * bazel.sh) and the README shows: it runs `sh -c 'sleep 300 & echo $!'`
 * and prints the grandchild's pid, which the run killed before returning. */
#include <stdio.h>
#include "processkit.h"

int main(void) {
    pk_command *cmd;
    pk_result *res;
    const uint8_t *out;
    size_t len;
    if (pk_command_new("sh", &cmd) || pk_command_arg(cmd, "-c") || pk_command_arg(cmd, "sleep 300 & echo $!") ||
        pk_command_run(cmd, &res) || pk_result_output(res, PK_STREAM_STDOUT, &out, &len)) {
        fprintf(stderr, "processkit: %s\n", pk_last_error());
        return 1;
    }
    fwrite(out, 1, len, stdout); /* the grandchild's pid: the run killed it on return */
    pk_result_free(res);
    pk_command_free(cmd);
    return 0;
}
