// How many threads a CPU kernel may use. Every `#pragma omp parallel` in the backend
// passes num_threads(cpu::threads()) because OpenMP's own setter is per calling thread:
// a stream worker started later would not see it.
#pragma once

namespace emily::cpu {

// EMILY_NUM_THREADS when set, else OpenMP's default for the machine.
int threads();

}  // namespace emily::cpu
