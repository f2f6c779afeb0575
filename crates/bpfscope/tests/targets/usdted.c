/* USDT probes with known arguments, each hit COUNT times: in registers,
 * in memory, and constants (whatever operands the compiler picks), and
 * one guarded by a semaphore that only a tracer sets.
 *
 *   usdted COUNT [wait]
 *
 * With "wait", reads a line from stdin first, so a tracer can attach to
 * this very process in between.
 */
#define _SDT_HAS_SEMAPHORES 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>

/* Semaphores: the kernel counts attached tracers in them. Only the
 * guarded probe checks its own. */
#define SEMAPHORE(name) unsigned short usdted_##name##_semaphore __attribute__((unused, section(".probes")))
SEMAPHORE(args);
SEMAPHORE(strings);
SEMAPHORE(guarded);

struct pair {
    long a;
    int b;
};

volatile long global_value = 77;

static __attribute__((noinline)) void work(struct pair *p, int i) {
    char word[] = "hello";
    DTRACE_PROBE4(usdted, args, i, p->a, p->b, -5);
    DTRACE_PROBE2(usdted, strings, word, global_value);
    if (usdted_guarded_semaphore)
        DTRACE_PROBE1(usdted, guarded, i * 10);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    if (argc > 2 && strcmp(argv[2], "wait") == 0) {
        char line[8];
        if (!fgets(line, sizeof line, stdin))
            return 3;
    }
    struct pair p = {1234567890123L, -42};
    for (int i = 0; i < n; i++)
        work(&p, i);
    return 0;
}
