/* Structs behind a uprobe's arguments, for their types from DWARF: a
 * nested struct, an array of chars, a pointer to another of its kind; and
 * one with bitfields, whose layout a declaration cannot give back.
 *
 *   structy COUNT
 */
#include <stdlib.h>

struct Inner {
    short s;
    long l;
};

struct Node {
    int id;
    char name[12];
    struct Inner inner;
    struct Node *next;
    unsigned char flags;
};

struct Bits {
    int a : 3;
    int b : 5;
};

volatile long sink;

__attribute__((noinline)) int visit(struct Node *n, struct Bits *bits) {
    sink += n->id + n->next->id + bits->a;
    return n->id;
}

int main(int argc, char **argv) {
    int count = argc > 1 ? atoi(argv[1]) : 1;
    struct Node second = {2, "second", {-2, 20}, NULL, 1};
    struct Node first = {1, "first", {-1, 10}, &second, 3};
    struct Bits bits = {1, 2};
    for (int i = 0; i < count; i++)
        visit(&first, &bits);
    return 0;
}
