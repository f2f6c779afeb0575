/* Writes the global `counter` COUNT times and reads it as often, for
 * watchpoints: a `w` watchpoint on it fires COUNT times, an `r` one COUNT
 * times too (each `+=` is one read and one write).
 *
 *   watched COUNT
 */
#include <stdlib.h>

volatile long counter;

int main(int argc, char **argv) {
    int count = argc > 1 ? atoi(argv[1]) : 1;
    for (int i = 0; i < count; i++)
        counter += i;
    return 0;
}
