/* Calls nap(), which sleeps 10 ms, COUNT times: a workload of known size
 * and latency for the exporter's test.
 *
 *   napper COUNT
 */
#include <stdlib.h>
#include <unistd.h>

__attribute__((noinline, noipa, used)) int nap(void) { return usleep(10000); }

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    for (int i = 0; i < n; i++)
        nap();
    return 0;
}
