/* Calls getppid() COUNT times as fast as it can: a burst of events for
 * the consumer's throughput tests. Prints the time per call on stderr.
 *
 *   getppid_loop COUNT
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++)
        getppid();
    clock_gettime(CLOCK_MONOTONIC, &b);
    fprintf(stderr, "%.3f us per call\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n / 1000.0);
    return 0;
}
