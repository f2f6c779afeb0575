/* Spins on the CPU in spin_here() for MS milliseconds: a workload for
 * profilers, whose samples should land in a function of known name. With
 * "wait", reads a line from stdin first.
 *
 *   spinner MS [wait]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

__attribute__((noinline)) unsigned long spin_here(double until) {
    volatile unsigned long n = 0;
    while (now_ms() < until)
        for (int i = 0; i < 100000; i++)
            n++;
    return n;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    if (argc > 2 && strcmp(argv[2], "wait") == 0) {
        char line[8];
        if (!fgets(line, sizeof line, stdin))
            return 3;
    }
    return spin_here(now_ms() + atoi(argv[1])) == 0;
}
