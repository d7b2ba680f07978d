// The emily command line: `emily doctor`, `emily ops`, `emily inspect`, `emily generate`,
// `emily version`.
#include <sys/utsname.h>

#include <cmath>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <omp.h>

#include "emily/emily.h"
#include "ops/catalogue.h"

extern "C" char* openblas_get_config(void);
extern "C" int openblas_get_num_threads(void);

#ifdef EMILY_HAS_CUDA
namespace emily::cuda {
struct DeviceSummary {
  std::string name;
  int major = 0, minor = 0;
  std::size_t memory_bytes = 0;
};
int driver_version();
int runtime_version();
std::vector<DeviceSummary> devices();
}  // namespace emily::cuda
#endif

namespace emily::cli {
int inspect(const std::string& path);
int generate(int argc, char** argv);
void limit_openmp_spinning(char** argv);  // openmp_spin.cpp: may run the program again
}  // namespace emily::cli

namespace {

int usage(std::ostream& os, int code) {
  os << "usage: emily <command>\n\n"
        "commands:\n"
        "  doctor    check the platform, libraries and devices; run a smoke computation\n"
        "  ops       list every catalogue op as NAME cpu=STATUS cuda=STATUS\n"
        "  inspect PATH\n"
        "            metadata and tensor table of a safetensors file, sharded model\n"
        "            (index or folder) or GGUF file\n"
        "  generate [--model PATH] (--prompt TEXT | --chat) [options]\n"
        "            stream a reply from a language model (emily generate --help)\n"
        "  version   print the version\n"
        "  help      this text\n";
  return code;
}

std::string cpu_features() {
  std::string out;
  __builtin_cpu_init();
  const std::pair<const char*, bool> features[] = {
      {"sse4.2", __builtin_cpu_supports("sse4.2")},   {"avx", __builtin_cpu_supports("avx")},
      {"avx2", __builtin_cpu_supports("avx2")},       {"fma", __builtin_cpu_supports("fma")},
      {"avx512f", __builtin_cpu_supports("avx512f")},
  };
  for (const auto& [n, on] : features)
    if (on) out += std::string(out.empty() ? "" : " ") + n;
  return out.empty() ? "baseline" : out;
}

// Runs a small computation whose answer is known exactly; returns an error or "".
std::string smoke() {
  using namespace emily;
  Tensor a = tensor<float>({1, 2, 3, 4}, {2, 2});
  Tensor b = tensor<float>({5, 6}, {2, 1});
  auto product = matmul(a, b).to_vector<float>();  // [[17], [39]]
  if (product != std::vector<float>{17, 39}) return "matmul [[1,2],[3,4]]·[5,6] gave wrong values";
  float total = sum(arange(1, 101, 1, DType::f32)).item<float>();
  if (total != 5050.0f) return "sum(1..100) gave " + std::to_string(total);
  double e = exp(scalar_tensor(1.0, DType::f64)).item<double>();
  if (std::fabs(e - std::exp(1.0)) > 1e-15) return "exp(1) gave a wrong value";
  return "";
}

int doctor() {
  using namespace emily;
  bool ok = true;
  utsname u{};
  uname(&u);
  std::cout << "emily " << kVersion << "\n";
  std::cout << "platform:   " << u.sysname << " " << u.release << " " << u.machine << "\n";
  std::cout << "cpu:        " << cpu_features() << ", " << omp_get_max_threads()
            << " OpenMP threads\n";
  std::cout << "blas:       OpenBLAS " << openblas_get_config() << " ("
            << openblas_get_num_threads() << " threads)\n";
#ifdef EMILY_HAS_CUDA
  int drv = cuda::driver_version(), rt = cuda::runtime_version();
  auto version = [](int v) {
    return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
  };
  // cudaDriverGetVersion reports 0 when no driver is installed (a build machine).
  std::cout << "cuda:       driver " << (drv > 0 ? version(drv) : std::string("not installed"))
            << ", runtime " << version(rt) << "\n";
  auto devs = cuda::devices();
  if (devs.empty()) std::cout << "cuda:       no devices visible\n";
  for (std::size_t i = 0; i < devs.size(); ++i) {
    std::cout << "cuda:" << i << "     " << devs[i].name << ", sm_" << devs[i].major
              << devs[i].minor << ", " << devs[i].memory_bytes / (1024 * 1024) << " MiB\n";
  }
#else
  std::cout
      << "cuda:       not built (configure with a CUDA toolkit present, EMILY_CUDA=AUTO|ON)\n";
#endif
  try {
    std::cout << "device:     " << to_string(default_device()) << " (default)\n";
  } catch (const std::exception& e) {
    std::cout << "device:     FAILED: " << e.what() << "\n";
    ok = false;
  }
  std::string failure;
  try {
    failure = smoke();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (failure.empty()) {
    std::cout << "smoke:      ok (matmul, sum, exp)\n";
  } else {
    std::cout << "smoke:      FAILED: " << failure << "\n";
    ok = false;
  }
  auto mem = memory_info();
  std::cout << "memory:     active " << mem.active << " B, peak " << mem.peak << " B, cache "
            << mem.cache << " B\n";
  std::cout << (ok ? "doctor: all checks passed\n" : "doctor: some checks FAILED\n");
  return ok ? 0 : 1;
}

int ops() {
  for (const auto& e : emily::catalogue()) std::cout << emily::catalogue_line(e.name) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage(std::cerr, 2);
  std::string cmd = argv[1];
  // The commands that compute on the CPU; the others need not pay a second start-up.
  if (cmd == "generate" || cmd == "doctor") emily::cli::limit_openmp_spinning(argv);
  try {
    if (cmd == "doctor") return doctor();
    if (cmd == "ops") return ops();
    if (cmd == "inspect") {
      if (argc != 3) return usage(std::cerr, 2);
      return emily::cli::inspect(argv[2]);
    }
    if (cmd == "generate") return emily::cli::generate(argc - 2, argv + 2);
    if (cmd == "version" || cmd == "--version") {
      std::cout << emily::kVersion << "\n";
      return 0;
    }
    if (cmd == "help" || cmd == "--help" || cmd == "-h") return usage(std::cout, 0);
  } catch (const std::exception& e) {
    std::cerr << "emily: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "emily: unknown command '" << cmd << "'\n";
  return usage(std::cerr, 2);
}
