/* A function taking an enum, for casts to enums from DWARF: paint() is
 * called COUNT times, with BLUE (9) for even calls and GREEN (5) for odd
 * ones, and the call's index.
 *
 *   enumy COUNT
 */
#include <stdlib.h>

enum color { RED = 1, GREEN = 5, BLUE = 9 };

volatile int sink;

__attribute__((noinline)) int paint(enum color c, int n) {
    sink += (int)c * n;
    return (int)c;
}

int main(int argc, char **argv) {
    int count = argc > 1 ? atoi(argv[1]) : 1;
    for (int i = 0; i < count; i++)
        paint(i % 2 ? GREEN : BLUE, i);
    return 0;
}
