/* Calls getppid() as fast as it can for SECONDS seconds, then prints how
 * many calls it made on stderr ("N calls"): a sustained load for soaks.
 *
 *   getppid_for SECONDS
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long calls = 0;
    for (;;) {
        for (int i = 0; i < 1000; i++)
            getppid();
        calls += 1000;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 >= seconds)
            break;
    }
    fprintf(stderr, "%ld calls\n", calls);
    return 0;
}
