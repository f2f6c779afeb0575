/* Functions for --user-probes tests, each long enough for a 5-byte jump
 * (built with frame pointers), in the modes the tests need:
 *
 *   userprobed loop N        every function N times
 *   userprobed threads T N   T threads call hit() N times each
 *   userprobed fork N        hit() N times here, 2N times in a child
 *   userprobed exec N        hit() N times, then exec "loop N"
 *   userprobed spin MS       hit() about every millisecond for MS ms,
 *                            then prints hit()'s first 8 bytes
 *   userprobed lanes N       lanes() N times with a vector in ymm0; prints
 *                            the sum of what it returned
 *   userprobed hammer T      T threads call tick(0), tick(1), ... as fast
 *                            as they can; "ready" once they run; at the
 *                            end of stdin they stop, and tick()'s first
 *                            8 bytes are printed
 */
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROBED __attribute__((noinline, noipa, used))

PROBED int hit(int x) { return x * 7 + (x >> 3); }

PROBED long work(long a, long b, long c, long d, long e, long f, long g, long h) {
    return a * 3 + b + c + d + e + f + g * 5 + h;
}

PROBED long tick(long seq) { return seq * 7 + (seq >> 3); }

PROBED int greet(const char *who) { return (int)strlen(who) * 2; }

PROBED long deref(long *p) { return p ? *p + 1 : -1; }

/* Its argument is in all 256 bits of ymm0: a probe must not lose the
 * upper half (the agent's C library calls may clear it). */
__attribute__((noinline, noipa, used, target("avx"))) double lanes(__m256d v) {
    double out[4];
    _mm256_storeu_pd(out, v);
    return out[0] + out[1] + out[2] + out[3];
}

__attribute__((target("avx"))) static double sum_lanes(long n) {
    double total = 0;
    for (long i = 0; i < n; i++)
        total += lanes(_mm256_set_pd((double)i, 2.0 * i, 3.0 * i, 4.0 * i));
    return total;
}

static volatile long sink;

static void loop(long n) {
    char who[] = "user-space";
    long v = 40;
    for (long i = 0; i < n; i++) {
        sink += hit((int)i);
        sink += work(i, 2, 3, 4, 5, 6, 7, 8);
        sink += greet(i % 2 ? who : "kernel");
        sink += deref(i % 3 ? &v : NULL);
    }
}

static long per_thread;

static void *caller(void *arg) {
    (void)arg;
    for (long i = 0; i < per_thread; i++)
        sink += hit((int)i);
    return NULL;
}

static volatile int stop;

static void *hammer(void *arg) {
    long local = 0;
    for (long i = 0; !stop; i++) {
        local += tick(i);
        if (i % 1024 == 0)
            sched_yield();
    }
    return (void *)local;
}

static void print_code(const void *f) {
    const unsigned char *code = f;
    for (int i = 0; i < 8; i++)
        printf("%02x", code[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "loop";
    long n = argc > 2 ? atol(argv[2]) : 1;
    if (strcmp(mode, "loop") == 0) {
        loop(n);
    } else if (strcmp(mode, "threads") == 0) {
        pthread_t t[64];
        long count = n < 64 ? n : 64;
        per_thread = argc > 3 ? atol(argv[3]) : 1;
        for (long i = 0; i < count; i++)
            pthread_create(&t[i], NULL, caller, NULL);
        for (long i = 0; i < count; i++)
            pthread_join(t[i], NULL);
    } else if (strcmp(mode, "fork") == 0) {
        pid_t child = fork();
        for (long i = 0; i < (child == 0 ? 2 * n : n); i++)
            sink += hit((int)i);
        if (child == 0)
            _exit(0);
        waitpid(child, NULL, 0);
    } else if (strcmp(mode, "exec") == 0) {
        for (long i = 0; i < n; i++)
            sink += hit((int)i);
        execl("/proc/self/exe", argv[0], "loop", argv[2], (char *)NULL);
        return 2;
    } else if (strcmp(mode, "spin") == 0) {
        struct timespec ms = {0, 1000 * 1000};
        for (long i = 0; i < n; i++) {
            sink += hit((int)i);
            nanosleep(&ms, NULL);
        }
        print_code((const void *)hit);
    } else if (strcmp(mode, "lanes") == 0) {
        printf("lanes %.0f\n", sum_lanes(n));
    } else if (strcmp(mode, "hammer") == 0) {
        pthread_t t[64];
        long count = n < 64 ? n : 64;
        char line[64];
        for (long i = 0; i < count; i++)
            pthread_create(&t[i], NULL, hammer, NULL);
        printf("ready\n");
        fflush(stdout);
        while (fgets(line, sizeof line, stdin))
            ;
        stop = 1;
        for (long i = 0; i < count; i++)
            pthread_join(t[i], NULL);
        print_code((const void *)tick);
    }
    return 0;
}
