/* Calls a trivial noinline function COUNT times and prints the time per
 * call on stderr: what a uprobe on it costs the process per hit, for the
 * benchmarks (bench/compare.sh).
 *
 *   uprobe_loop COUNT
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Long enough (15 bytes) for a user-space probe's 5-byte jump: `x + 1`
 * alone is 4 bytes, where only a kernel uprobe fits. */
__attribute__((noinline, noipa, used)) int hit(int x) { return x * 7 + (x >> 3); }

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1;
    struct timespec a, b;
    volatile int sink = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++)
        sink = hit(sink);
    clock_gettime(CLOCK_MONOTONIC, &b);
    fprintf(stderr, "%.3f us per call\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n / 1000.0);
    return 0;
}
