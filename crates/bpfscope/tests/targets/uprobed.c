/* Functions with known arguments and return values, each called COUNT
 * times, for uprobe tests. With "wait", reads a line from stdin before the
 * calls, so a tracer can attach to this very process in between; with
 * "sleep", sleeps half a second first. With UPROBED_LINGER set, prints
 * "done" after the calls and waits for another line before exiting.
 *
 *   uprobed COUNT [wait|sleep]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Keep every function a real, separately callable symbol with its
 * arguments in the ABI's registers (no inlining, cloning or constant
 * propagation across calls). */
#define PROBED __attribute__((noinline, noipa, used))

struct point {
    int x;
    char name[8];
    long y;
};

/* Variables of 1, 4 and 8 bytes for uaddr(); main reads them, so their
 * page is in memory when a probe reads them. */
__attribute__((used)) signed char uaddr_byte = 100;
__attribute__((used)) int uaddr_int = -7;
__attribute__((used)) long uaddr_long = 1234567890123;

PROBED int add(int a, int b) { return a + b; }

PROBED long eight(long a, long b, long c, long d, long e, long f, long g, long h) {
    return a + b + c + d + e + f + g + h;
}

PROBED int greet(const char *who) { return (int)strlen(who); }

PROBED long point_sum(struct point *p) { return p->x + p->y; }

PROBED int fill(unsigned char *buf, int n) {
    for (int i = 0; i < n; i++)
        buf[i] = (unsigned char)(i * 17);
    return n;
}

PROBED int step_one(void) { return 1; }
PROBED int step_two(void) { return 2; }
PROBED int step_three(void) { return 3; }

/* Known bytes: probes at marked+2 and marked+4 land on instructions. */
__asm__(".text\n.globl marked\n.type marked, @function\nmarked:\n"
        "  nop\n  nop\n  nop\n  nop\n  mov $42, %eax\n  ret\n.size marked, .-marked\n");
int marked(void);

/* Only in .symtab: a local function. */
static PROBED int hidden(int x) { return x * 2; }

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    if (argc > 2 && strcmp(argv[2], "wait") == 0) {
        char line[8];
        if (!fgets(line, sizeof line, stdin))
            return 3;
    }
    if (argc > 2 && strcmp(argv[2], "sleep") == 0)
        usleep(500 * 1000);
    if (getenv("UPROBED_PRINT_STEP_TWO"))
        printf("step_two=%p\n", (void *)step_two);
    fflush(stdout);
    volatile long sink = uaddr_byte + uaddr_int + uaddr_long;
    struct point p = {7, "pointy", 35};
    /* On the stack, so always paged in: a uprobe cannot fault a page in,
     * and a string in a file page not yet touched would read as "". */
    char who[] = "world";
    unsigned char buf[4];
    for (int i = 0; i < n; i++) {
        sink += add(i, 100);
        sink += eight(1, 2, 3, 4, 5, 6, 7, 8);
        sink += greet(who);
        sink += point_sum(&p);
        sink += fill(buf, sizeof buf);
        sink += step_one();
        sink += step_two();
        sink += step_three();
        sink += hidden(i);
        sink += marked();
    }
    if (getenv("UPROBED_LINGER")) {
        /* Say the calls are done, then stay alive until told to go, so a
         * tracer can name this process's frames. */
        char line[8];
        printf("done\n");
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin))
            return 4;
    }
    return 0;
}
