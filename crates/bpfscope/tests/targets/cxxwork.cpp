// A C++ target: a method in a namespace, called N times from a function
// taking a reference, for demangled frames (ns::K::work(int)). The method
// calls a C function, whose probe sees drive() among its callers (a probe
// at a function's entry misses its immediate caller: the frame pointer is
// not set up yet).
#include <cstdio>
#include <cstdlib>

extern "C" __attribute__((noinline)) int leaf(int x) {
    __asm__ volatile("" ::: "memory");
    return x + 1;
}

namespace ns {
struct K {
    int base;
    int work(int x);
};

__attribute__((noinline)) int K::work(int x) { return leaf(base + x) - 1; }
}  // namespace ns

__attribute__((noinline)) int drive(ns::K &k, int n) {
    int sum = 0;
    for (int i = 0; i < n; i++) {
        sum += k.work(i);
        __asm__ volatile("" ::: "memory");
    }
    return sum;
}

int main(int argc, char **argv) {
    ns::K k{argc};
    int n = argc > 1 ? atoi(argv[1]) : 1;
    printf("%d\n", drive(k, n));
    return 0;
}
