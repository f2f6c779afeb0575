/* Looks a host name up COUNT times with getaddrinfo, then once with
 * gethostbyname: a workload for gethostlatency. With "wait", reads a line
 * from stdin first, so a tracer can attach in between.
 *
 *   resolver NAME COUNT [wait]
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    if (argc > 3 && strcmp(argv[3], "wait") == 0) {
        char line[8];
        if (!fgets(line, sizeof line, stdin))
            return 3;
    }
    int n = atoi(argv[2]);
    for (int i = 0; i < n; i++) {
        struct addrinfo *res = NULL;
        if (getaddrinfo(argv[1], NULL, NULL, &res) != 0)
            return 1;
        freeaddrinfo(res);
    }
    if (!gethostbyname(argv[1]))
        return 4;
    return 0;
}
