/* Loads LIB, calls its lib_work() FIRST times, unloads it (its pages are
 * unmapped), then loads it again and calls it SECOND times.
 *
 *   dlopener LIB FIRST SECOND
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

static int round_of(const char *lib, int calls) {
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    int (*work)(int) = (int (*)(int))dlsym(h, "lib_work");
    if (!work)
        return 1;
    volatile int sink = 0;
    for (int i = 0; i < calls; i++)
        sink += work(i);
    return dlclose(h) != 0;
}

int main(int argc, char **argv) {
    if (argc < 4)
        return 2;
    return round_of(argv[1], atoi(argv[2])) || round_of(argv[1], atoi(argv[3]));
}
