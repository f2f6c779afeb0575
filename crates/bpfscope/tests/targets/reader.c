/* Reads a file COUNT times, 137 bytes each time, and writes each chunk to
 * /dev/null: a workload with a known number of vfs_read and vfs_write
 * calls of a recognisable size, for kernel probe tests.
 *
 *   reader FILE COUNT
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    int n = atoi(argv[2]);
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
