/* The no-op workload of bench/dispatch.py: a program that only exits 0.
 *
 * Built static and without the C library where the architecture allows, so
 * that starting it costs the kernel's exec and little else: /bin/true spends
 * most of its 0.6 to 0.8 ms of CPU in the dynamic loader and the C library's
 * start-up, which is the workload's cost, not the orchestrator's. */
#if defined(__x86_64__)
__attribute__((noreturn)) void _start(void)
{
    __asm__ volatile("mov $60, %eax\n\txor %edi, %edi\n\tsyscall"); /* exit(0) */
    __builtin_unreachable();
}
#elif defined(__aarch64__)
__attribute__((noreturn)) void _start(void)
{
    __asm__ volatile("mov x0, #0\n\tmov x8, #93\n\tsvc #0"); /* exit(0) */
    __builtin_unreachable();
}
#else
int main(void)
{
    return 0;
}
#endif
