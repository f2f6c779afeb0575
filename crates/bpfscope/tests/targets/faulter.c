/* Touches COUNT fresh pages of anonymous memory: at least COUNT page
 * faults, for software event tests.
 *
 *   faulter COUNT
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1;
    long page = sysconf(_SC_PAGESIZE);
    volatile char *p = mmap(NULL, n * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 2;
    for (long i = 0; i < n; i++)
        p[i * page] = 1;
    return 0;
}
