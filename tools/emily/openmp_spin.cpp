#include <unistd.h>

#include <cstdlib>  // also defines __GLIBC__

namespace emily::cli {

// How long the command line's OpenMP threads spin before they sleep. libgomp reads
// GOMP_SPINCOUNT once, in its constructor, before main; glibc's own start-up then
// restores the environment the process was given, so not even a .preinit_array hook can
// set it in-process. The command line therefore runs itself once more with the variable
// set (one exec, a few milliseconds), unless the user chose a spin count or a wait
// policy.
//
// Why: a thread that finishes its share of a parallel region spins (300,000 rounds by
// default) before it sleeps. When other processes keep the cores busy, those spinning
// threads take cores from the thread still working, and each of the hundreds of parallel
// regions of a decode step can wait for a time slice. SmolLM2 decode on 2 cores with two
// busy processes beside it ran 3-31 tok/s by default and 43-76 tok/s with 1,000 rounds
// (libgomp's own count when it has more threads than cores), and about 171 tok/s either
// way on idle cores (bench/results/llm.md, "CPU decode beside other work").
void limit_openmp_spinning(char** argv) {
#if defined(__linux__) && defined(__GLIBC__)
  if (std::getenv("GOMP_SPINCOUNT") != nullptr || std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (setenv("GOMP_SPINCOUNT", "1000", 0) != 0) return;
  execv("/proc/self/exe", argv);  // returns only if it failed: go on as we are
#else
  (void)argv;
#endif
}

}  // namespace emily::cli
