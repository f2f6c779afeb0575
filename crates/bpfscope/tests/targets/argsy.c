/* Functions with typed parameters, for uprobe `args` from DWARF.
 *
 *   argsy COUNT
 */
#include <stdlib.h>

struct Foo {
    int a;
    char b[8];
};

volatile long sink;

__attribute__((noinline)) int takes(int n, const char *s, struct Foo *foo, unsigned char c, long big, short neg) {
    sink += n + s[0] + foo->a + c + big + neg;
    return n;
}

__attribute__((noinline)) double floaty(double x, int after) {
    return x + after;
}

int main(int argc, char **argv) {
    int count = argc > 1 ? atoi(argv[1]) : 1;
    struct Foo foo = {42, "bar"};
    /* Touched first, so that its page is in when the probe reads it. */
    const char *hello = "hello";
    sink += *(const volatile char *)hello;
    for (int i = 0; i < count; i++) {
        takes(i * 7, hello, &foo, 'x', -5000000000L, -3);
        sink += (long)floaty(1.5, i);
    }
    return 0;
}
