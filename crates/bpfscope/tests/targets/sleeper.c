/* Sleeps COUNT times for 2 ms: a workload with a known number of wakeups,
 * for scheduler latency tests. With "wait", reads a line from stdin first,
 * so a tracer can attach in between.
 *
 *   sleeper COUNT [wait]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    if (argc > 2 && strcmp(argv[2], "wait") == 0) {
        char line[8];
        if (!fgets(line, sizeof line, stdin))
            return 3;
    }
    int n = atoi(argv[1]);
    struct timespec t = {0, 2 * 1000 * 1000};
    for (int i = 0; i < n; i++)
        nanosleep(&t, NULL);
    return 0;
}
