/* long pk__clone3_call(struct clone_args *args, size_t size,
 *                      int (*fn)(void *), void *arg);
 *
 * clone3 with a caller-supplied stack cannot return through C in the child:
 * the child wakes on a fresh stack with no frame to return to. So the child
 * calls fn(arg) straight from this trampoline and exits with its result; the
 * parent returns the raw syscall result (child pid, or -errno).
 *
 * Written as file-scope assembly inside a C file, one block per
 * architecture, so the library (and its amalgamation) is plain C to every
 * build system. An architecture without a block here spawns through glibc's
 * clone() instead (spawn_linux.c), and the cgroup backend then reports that
 * children cannot be born inside a cgroup. */
#include "process_spawn.h"

#if defined(__x86_64__)
/* fn and arg ride in r8/r9, which the syscall instruction preserves in both
 * the parent and the child. */
__asm__(".text\n"
        ".globl pk__clone3_call\n"
        ".hidden pk__clone3_call\n"
        ".type pk__clone3_call, @function\n"
        "pk__clone3_call:\n"
        ".cfi_startproc\n"
        "    mov %rdx, %r8\n"
        "    mov %rcx, %r9\n"
        "    mov $435, %eax\n" /* __NR_clone3 */
        "    syscall\n"
        "    test %rax, %rax\n"
        "    jz 1f\n"
        "    ret\n"
        "1:\n"
        ".cfi_undefined rip\n"
        "    xor %ebp, %ebp\n"
        "    mov %r9, %rdi\n"
        "    call *%r8\n"
        "    mov %eax, %edi\n"
        "    mov $231, %eax\n" /* __NR_exit_group */
        "    syscall\n"
        "    hlt\n"
        ".cfi_endproc\n"
        ".size pk__clone3_call, .-pk__clone3_call\n");
#elif defined(__aarch64__)
/* fn and arg stay in x2/x3: svc clobbers only x0, and the child starts with
 * the parent's registers. */
__asm__(".text\n"
        ".globl pk__clone3_call\n"
        ".hidden pk__clone3_call\n"
        ".type pk__clone3_call, %function\n"
        "pk__clone3_call:\n"
        ".cfi_startproc\n"
        "    mov x8, #435\n" /* __NR_clone3 */
        "    svc #0\n"
        "    cbz x0, 1f\n"
        "    ret\n"
        "1:\n"
        ".cfi_undefined x30\n"
        "    mov x29, xzr\n"
        "    mov x30, xzr\n"
        "    mov x0, x3\n"
        "    blr x2\n"
        "    mov x8, #94\n" /* __NR_exit_group */
        "    svc #0\n"
        "    brk #0\n"
        ".cfi_endproc\n"
        ".size pk__clone3_call, .-pk__clone3_call\n");
#endif
