// safetensors reader and writer. Any file either opens or raises FormatError; every tensor
// of one that opens reads (Unsupported only for dtypes Emily lacks, FormatError only for
// bad BOOL bytes), and writing those tensors then reading them back gives the same bytes.
// seeds: tests/fixtures/io/safetensors/*.safetensors
// seeds: tests/fixtures/io/safetensors/sharded/*.safetensors
// dict: fuzz/json.dict
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "emily/error.h"
#include "emily/safetensors.h"

namespace {

// The input lives in an in-memory file, reopened by its /proc path: no disk writes.
struct InputFile {
  int fd = memfd_create("fuzz.safetensors", 0);
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  std::string out = "/tmp/emily_fuzz_" + std::to_string(getpid()) + ".safetensors";

  void write(const std::uint8_t* data, std::size_t size) {
    if (fd < 0 || ftruncate(fd, 0) != 0) __builtin_trap();
    std::size_t done = 0;
    while (done < size) {
      ssize_t n = pwrite(fd, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) __builtin_trap();
      done += static_cast<std::size_t>(n);
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static InputFile file;
  file.write(data, size);
  emily::SafetensorsFile f;
  try {
    f = emily::SafetensorsFile::open(file.path);
  } catch (const emily::FormatError&) {
    return 0;
  }
  std::map<std::string, emily::Tensor> tensors;
  for (const std::string& name : f.names()) {
    try {
      emily::Tensor t = f.tensor(name);
      // Every byte of the view must be readable (ASan or a fault says otherwise).
      unsigned char fold = 0;
      auto* bytes = static_cast<const unsigned char*>(t.nbytes() ? t.raw_data() : nullptr);
      for (std::size_t i = 0; i < t.nbytes(); ++i) fold ^= bytes[i];
      *static_cast<volatile unsigned char*>(&fold) = fold;
      tensors.emplace(name, t);
    } catch (const emily::Unsupported&) {
      return 0;
    } catch (const emily::FormatError&) {
      return 0;  // a BOOL byte other than 0 or 1
    }
  }
  emily::save_safetensors(file.out, tensors, f.metadata());
  emily::SafetensorsFile back = emily::SafetensorsFile::open(file.out);
  if (back.metadata() != f.metadata() || back.names().size() != tensors.size()) __builtin_trap();
  for (const auto& [name, t] : tensors) {
    emily::Tensor u = back.tensor(name);
    if (u.dtype() != t.dtype() || u.shape() != t.shape()) __builtin_trap();
    if (t.nbytes() && std::memcmp(u.raw_data(), t.raw_data(), t.nbytes()) != 0) __builtin_trap();
  }
  std::remove(file.out.c_str());
  return 0;
}
