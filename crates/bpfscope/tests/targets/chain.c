/* A 4-deep call chain built without frame pointers, for dw_ustack:
 * main -> level1 -> level2 -> level3 -> level4. Each keeps a local array
 * on its stack, so each frame's CFA is rsp plus its own offset; level2
 * keeps a frame pointer (its CFA is rbp-based), which the walk must
 * follow as well. Work after each call keeps the calls from being tail
 * calls.
 *
 *   chain COUNT
 */
#include <stdlib.h>

volatile int sink;

__attribute__((noinline)) int level4(int x) {
    sink += x;
    return x * 3;
}

__attribute__((noinline)) int level3(int x) {
    volatile char buf[40];
    buf[x % 40] = (char)x;
    int r = level4(x + buf[0]);
    sink += r;
    return r + 1;
}

__attribute__((noinline, optimize("no-omit-frame-pointer"))) int level2(int x) {
    volatile char buf[72];
    buf[x % 72] = (char)x;
    int r = level3(x + buf[1]);
    sink += r;
    return r + 2;
}

__attribute__((noinline)) int level1(int x) {
    volatile char buf[24];
    buf[x % 24] = (char)x;
    int r = level2(x + buf[2]);
    sink += r;
    return r + 3;
}

int main(int argc, char **argv) {
    int count = argc > 1 ? atoi(argv[1]) : 1;
    for (int i = 0; i < count; i++)
        level1(i);
    return 0;
}
