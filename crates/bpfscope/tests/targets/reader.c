/* Reads a file COUNT times, 137 bytes each time, and writes each chunk to
 * /dev/null: a workload with a known number of vfs_read and vfs_write
 * calls of a recognisable size, for kernel probe tests.
 *
 *   reader FILE COUNT [wait]
 *
 * With "wait", reads a line from stdin first, so a tracer can attach to
 * this very process in between.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    int n = atoi(argv[2]);
    if (argc > 3 && strcmp(argv[3], "wait") == 0) {
        char line[8];
        if (!fgets(line, sizeof line, stdin))
            return 5;
    }
    char buf[137];
    int out = open("/dev/null", O_WRONLY);
    for (int i = 0; i < n; i++) {
        int fd = open(argv[1], O_RDONLY);
        if (fd < 0)
            return 1;
        ssize_t got = read(fd, buf, sizeof buf);
        if (got != (ssize_t)sizeof buf)
            return 3;
        if (write(out, buf, got) != got)
            return 4;
        close(fd);
    }
    return 0;
}
