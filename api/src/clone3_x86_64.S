/* long pk__clone3_call(struct clone_args *args, size_t size,
 *                      int (*fn)(void *), void *arg);
 *
 * clone3 with a caller-supplied stack cannot return through C in the child:
 * the child wakes on a fresh stack with no frame to return to. So the child
 * calls fn(arg) straight from here and exits with its result; the parent
 * returns the raw syscall result (child pid, or -errno). r8/r9 survive the
 * syscall instruction in both processes. */
    .text
    .globl pk__clone3_call
    .hidden pk__clone3_call
    .type pk__clone3_call, @function
pk__clone3_call:
    .cfi_startproc
    mov %rdx, %r8
    mov %rcx, %r9
    mov $435, %eax          /* __NR_clone3 */
    syscall
    test %rax, %rax
    jz 1f
    ret
1:
    .cfi_undefined rip
    xor %ebp, %ebp
    mov %r9, %rdi
    call *%r8
    mov %eax, %edi
    mov $231, %eax          /* __NR_exit_group */
    syscall
    hlt
    .cfi_endproc
    .size pk__clone3_call, .-pk__clone3_call
    .section .note.GNU-stack,"",@progbits
