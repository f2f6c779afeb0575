/* A function inlined into another, for inlined frames in stacks: outer()
 * has inlined_helper() inlined into it, which calls middle(), which calls
 * probe_me(). A probe on probe_me() sees outer()'s frame (middle()'s is
 * skipped: at a function's entry its caller's frame is not set up yet),
 * whose return address lies in the inlined code.
 *
 *   inliner COUNT
 */
#include <stdlib.h>

volatile int sink;

__attribute__((noinline)) int probe_me(int x) {
    sink += x;
    return x + 1;
}

__attribute__((noinline)) int middle(int x) {
    int r = probe_me(x) * 2;
    sink += r;
    return r;
}

static inline __attribute__((always_inline)) int inlined_helper(int x) {
    int r = middle(x) + 3;
    sink += r;
    return r;
}

__attribute__((noinline)) int outer(int x) {
    int r = inlined_helper(x) - 1;
    sink += r;
    return r;
}

int main(int argc, char **argv) {
    int count = argc > 1 ? atoi(argv[1]) : 1;
    for (int i = 0; i < count; i++)
        outer(i);
    return 0;
}
