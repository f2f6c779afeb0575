/* Opens a file a given number of times: a workload with a known count of
 * openat system calls, for tracepoint tests. Waits for a byte on stdin
 * first when asked to, so the tracer can attach in between. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: opener FILE COUNT\n");
        return 2;
    }
    int n = atoi(argv[2]);
    for (int i = 0; i < n; i++) {
        int fd = open(argv[1], O_RDONLY);
        if (fd >= 0)
            close(fd);
    }
    return 0;
}
