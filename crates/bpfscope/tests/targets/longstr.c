/* Passes long strings of known bytes to a function, for tests of strings
 * longer than the BPF stack: `take(s, t)` gets a 1000-byte string and a
 * 2000-byte one, both "abc...zabc..." (byte i is 'a' + i % 26), so the
 * first is the start of the second. Called COUNT times.
 *
 *   longstr COUNT
 */
#include <stdlib.h>
#include <string.h>

#define PROBED __attribute__((noinline, noipa, used))

PROBED int take(const char *s, const char *t) { return (int)(strlen(s) + strlen(t)); }

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    /* On the stack, so paged in: a uprobe cannot fault a page in. */
    char s[1001], t[2001];
    for (int i = 0; i < 2000; i++) {
        t[i] = (char)('a' + i % 26);
        if (i < 1000)
            s[i] = t[i];
    }
    s[1000] = 0;
    t[2000] = 0;
    volatile long sink = 0;
    for (int i = 0; i < n; i++)
        sink += take(s, t);
    return sink == 0;
}
