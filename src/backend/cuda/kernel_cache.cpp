#include "backend/cuda/kernel_cache.h"

#include <nvrtc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "backend/cuda/runtime.h"
#include "emily/config.h"
#include "emily/error.h"
#include "emily/telemetry.h"

namespace emily::cuda {

namespace {

// What NVRTC compiles for: a real architecture gives a CUBIN the device runs as is; a
// device newer than this NVRTC knows gets PTX for the newest virtual one below it, which
// the driver translates at load.
struct Target {
  std::string option;  // --gpu-architecture=...
  bool cubin = true;
  std::string version;  // NVRTC's, part of the key: another compiler may emit other code
};

std::mutex g_mutex;
std::unordered_map<std::string, cudaKernel_t> g_loaded;  // "<device>\n<key>" -> kernel
std::unordered_map<std::string, cudaKernel_t> g_signed;  // "<device>\n<signature>" -> kernel
std::map<int, Target> g_targets;
std::optional<std::string> g_dir;  // set_kernel_cache_dir's override

void check_nvrtc(nvrtcResult status, const char* what) {
  if (status != NVRTC_SUCCESS)
    EMILY_THROW(Error, "kernel_compile", what, ": ", nvrtcGetErrorString(status));
}

Target make_target(Device device) {
  int major = 0, minor = 0;
  check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device.index),
        "kernel_compile", "compute capability");
  check(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device.index),
        "kernel_compile", "compute capability");
  const int arch = major * 10 + minor;
  int count = 0;
  check_nvrtc(nvrtcGetNumSupportedArchs(&count), "nvrtcGetNumSupportedArchs");
  std::vector<int> archs(static_cast<std::size_t>(count));
  if (count > 0) check_nvrtc(nvrtcGetSupportedArchs(archs.data()), "nvrtcGetSupportedArchs");
  Target t;
  int nvrtc_major = 0, nvrtc_minor = 0;
  check_nvrtc(nvrtcVersion(&nvrtc_major, &nvrtc_minor), "nvrtcVersion");
  t.version = std::to_string(nvrtc_major) + "." + std::to_string(nvrtc_minor);
  if (std::find(archs.begin(), archs.end(), arch) != archs.end()) {
    t.option = "--gpu-architecture=sm_" + std::to_string(arch);
    return t;
  }
  int below = -1;
  for (int a : archs)
    if (a <= arch) below = std::max(below, a);
  if (below < 0) {
    EMILY_THROW(Unsupported, "kernel_compile", "NVRTC ", t.version,
                " cannot compile for compute capability ", major, ".", minor);
  }
  t.option = "--gpu-architecture=compute_" + std::to_string(below);
  t.cubin = false;
  return t;
}

// ---- disk entries ---------------------------------------------------------------------
// An entry is magic, the full key (so a hash collision reads as a miss), and the image
// with its length and checksum (so a torn or damaged file reads as a miss too).
constexpr char kMagic[8] = {'E', 'M', 'I', 'L', 'Y', 'K', 'C', '1'};

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool get_u64(const std::string& in, std::size_t& at, std::uint64_t& v) {
  if (in.size() < at + 8) return false;
  v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  at += 8;
  return true;
}

std::string entry_path(const std::string& dir, const std::string& key) {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.bin", static_cast<unsigned long long>(fnv1a(key)));
  return dir + "/" + name;
}

// The image stored for `key`, or nothing; `status` says why not ("absent", "corrupt").
std::optional<std::string> read_entry(const std::string& path, const std::string& key,
                                      std::string& status) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    status = "absent";
    return std::nullopt;
  }
  std::ostringstream all;
  all << f.rdbuf();
  const std::string in = all.str();
  status = "corrupt";
  if (in.size() < sizeof kMagic || in.compare(0, sizeof kMagic, kMagic, sizeof kMagic) != 0)
    return std::nullopt;
  std::size_t at = sizeof kMagic;
  std::uint64_t key_len = 0, image_len = 0, sum = 0;
  if (!get_u64(in, at, key_len) || key_len > in.size() - at) return std::nullopt;
  if (in.compare(at, key_len, key) != 0 || key_len != key.size()) {
    status = "other key";
    return std::nullopt;
  }
  at += key_len;
  if (!get_u64(in, at, image_len) || !get_u64(in, at, sum) || image_len != in.size() - at)
    return std::nullopt;
  std::string image = in.substr(at);
  if (image.empty() || fnv1a(image) != sum) return std::nullopt;
  status = "valid";
  return image;
}

// Written to a temporary name and renamed into place, so that a reader (another
// process) sees the old entry, no entry, or the whole new one. Failures leave no entry:
// the cache is an optimisation, never a reason for a plan to fail.
void write_entry(const std::string& dir, const std::string& path, const std::string& key,
                 const std::string& image) {
  static std::atomic<std::uint64_t> counter{0};
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return;
  std::string bytes(kMagic, sizeof kMagic);
  put_u64(bytes, key.size());
  bytes += key;
  put_u64(bytes, image.size());
  put_u64(bytes, fnv1a(image));
  bytes += image;
  const std::string tmp =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return;
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.close();
    if (!f) {
      std::filesystem::remove(tmp, ec);
      return;
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

// ---- NVRTC ----------------------------------------------------------------------------
std::string compile(const std::string& source, const Target& t) {
  nvrtcProgram prog = nullptr;
  check_nvrtc(nvrtcCreateProgram(&prog, source.c_str(), "emily_fused.cu", 0, nullptr, nullptr),
              "nvrtcCreateProgram");
  // No --use_fast_math and NVRTC's defaults otherwise (IEEE division and square root,
  // no flush to zero, FMA contraction as nvcc's default): the same code generation the
  // standalone kernels get from nvcc. The generated arithmetic uses the _rn intrinsics,
  // which never contract, so a fused a*b+c rounds twice as two kernels do.
  const std::string arch = t.option;
  const char* options[] = {arch.c_str(), "--std=c++17"};
  const nvrtcResult status = nvrtcCompileProgram(prog, 2, options);
  if (status != NVRTC_SUCCESS) {
    std::size_t log_size = 0;
    std::string log;
    if (nvrtcGetProgramLogSize(prog, &log_size) == NVRTC_SUCCESS && log_size > 1) {
      log.resize(log_size);
      if (nvrtcGetProgramLog(prog, log.data()) != NVRTC_SUCCESS) log.clear();
    }
    nvrtcDestroyProgram(&prog);
    EMILY_THROW(Error, "kernel_compile", "NVRTC failed (", nvrtcGetErrorString(status), "): ", log);
  }
  std::size_t size = 0;
  std::string image;
  nvrtcResult got = t.cubin ? nvrtcGetCUBINSize(prog, &size) : nvrtcGetPTXSize(prog, &size);
  if (got == NVRTC_SUCCESS) {
    image.resize(size);
    got = t.cubin ? nvrtcGetCUBIN(prog, image.data()) : nvrtcGetPTX(prog, image.data());
  }
  nvrtcDestroyProgram(&prog);
  check_nvrtc(got, t.cubin ? "nvrtcGetCUBIN" : "nvrtcGetPTX");
  return image;
}

// Null when the image does not load (a damaged entry that passed its checksum, a
// driver too old for the PTX); the error is cleared so no later launch check sees it.
cudaKernel_t load(const std::string& image, const char* entry, bool must) {
  cudaLibrary_t library = nullptr;
  cudaKernel_t kernel = nullptr;
  cudaError_t status =
      cudaLibraryLoadData(&library, image.data(), nullptr, nullptr, 0, nullptr, nullptr, 0);
  if (status == cudaSuccess) {
    status = cudaLibraryGetKernel(&kernel, library, entry);
    // Loaded on the current device now (loading may be lazy), so that the first launch,
    // which may be recorded into a CUDA graph, finds it there.
    cudaFuncAttributes attributes;
    if (status == cudaSuccess)
      status = cudaFuncGetAttributes(&attributes, reinterpret_cast<const void*>(kernel));
    if (status != cudaSuccess) cudaLibraryUnload(library);
  }
  if (status == cudaSuccess) return kernel;
  cudaGetLastError();
  if (must) check(status, "kernel_compile", "loading a compiled kernel");
  return nullptr;
}

using Meta = std::vector<std::pair<std::string, std::string>>;

cudaKernel_t build(const std::string& source, const std::string& key, const char* entry,
                   const Target& t) {
  const std::string dir = kernel_cache_dir();
  const std::string path = dir.empty() ? std::string() : entry_path(dir, key);
  std::string disk = dir.empty() ? "off" : "absent";
  if (!path.empty()) {
    if (auto image = read_entry(path, key, disk)) {
      telemetry::Span span("kernel_compile", [&] {
        return Meta{{"cache", "disk"}, {"target", t.option}, {"entry", entry}};
      });
      if (cudaKernel_t kernel = load(*image, entry, false)) return kernel;
      disk = "unloadable";
    }
  }
  telemetry::Span span("kernel_compile", [&] {
    return Meta{{"cache", "miss"}, {"disk", disk}, {"target", t.option}, {"entry", entry}};
  });
  const std::string image = compile(source, t);
  cudaKernel_t kernel = load(image, entry, true);
  if (!path.empty()) write_entry(dir, path, key, image);
  return kernel;
}

}  // namespace

cudaKernel_t cached_kernel(const std::string& source, const char* entry, Device device) {
  use_device(device);
  Target t;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_targets.find(device.index);
    if (it == g_targets.end()) it = g_targets.emplace(device.index, make_target(device)).first;
    t = it->second;
  }
  std::string key = t.option + " nvrtc " + t.version + "\n" + source;
  std::string loaded_key = std::to_string(device.index) + "\n" + key;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (auto it = g_loaded.find(loaded_key); it != g_loaded.end()) return it->second;
  }
  // Compiled outside the lock: NVRTC takes long, and two threads racing to the same
  // kernel only load one module more.
  cudaKernel_t kernel = build(source, key, entry, t);
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_loaded.emplace(std::move(loaded_key), kernel).first->second;
}

cudaKernel_t cached_kernel(const std::string& signature, const std::function<std::string()>& source,
                           const char* entry, Device device) {
  std::string signed_key = std::to_string(device.index) + "\n" + signature;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (auto it = g_signed.find(signed_key); it != g_signed.end()) {
      use_device(device);
      return it->second;
    }
  }
  cudaKernel_t kernel = cached_kernel(source(), entry, device);
  std::lock_guard<std::mutex> lock(g_mutex);
  g_signed.emplace(std::move(signed_key), kernel);
  return kernel;
}

std::string kernel_cache_dir() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_dir ? *g_dir : config::settings().kernel_cache;
}

void set_kernel_cache_dir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_dir = dir;
}

void forget_loaded_kernels() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_loaded.clear();
  g_signed.clear();
}

}  // namespace emily::cuda
