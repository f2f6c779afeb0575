/* A shared library with one function to probe, for tests that load and
 * unload it (built with -shared -fPIC). */
__attribute__((noinline, used)) int lib_work(int x) { return x * 3; }
