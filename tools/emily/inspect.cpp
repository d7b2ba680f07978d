// `emily inspect PATH`: what a model file holds, without loading its tensors. GGUF files
// are told apart by their magic; anything else (a .safetensors file, a sharded model's
// index, or a folder holding either) is read as safetensors.
#include <cstdint>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <string>

#include "emily/emily.h"
#include "emily/gguf.h"
#include "emily/safetensors.h"

namespace emily::cli {

namespace {

bool is_gguf(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[4] = {};
  return f.read(magic, 4) && std::string(magic, 4) == "GGUF";
}

std::string human(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  std::ostringstream os;
  os << std::fixed << std::setprecision(u == 0 ? 0 : 1) << v << ' ' << units[u];
  return os.str();
}

void describe_safetensors(const SafetensorsFile& file, std::ostream& os) {
  os << "safetensors: " << file.path() << "\n";
  if (!file.metadata().empty()) {
    os << "metadata:\n";
    for (const auto& [k, v] : file.metadata()) os << "  " << k << " = " << v << "\n";
  }
  std::size_t width = 4;
  for (const auto& n : file.names()) width = std::max(width, n.size());
  os << "tensors: " << file.names().size() << "\n";
  os << "  " << std::left << std::setw(static_cast<int>(width)) << "name"
     << "  " << std::setw(8) << "dtype"
     << "  " << std::setw(20) << "shape"
     << "  bytes\n";
  std::uint64_t total = 0;
  for (const auto& n : file.names()) {
    const SafetensorsInfo& info = file.info(n);
    total += info.nbytes;
    os << "  " << std::setw(static_cast<int>(width)) << n << "  " << std::setw(8) << info.dtype_name
       << "  " << std::setw(20) << to_string(info.shape) << "  " << info.nbytes << "\n";
  }
  os << "total: " << total << " bytes (" << human(total) << ")\n";
}

}  // namespace

int inspect(const std::string& path) {
  try {
    if (is_gguf(path))
      std::cout << describe(GgufFile::open(path));
    else
      describe_safetensors(SafetensorsFile::open(path), std::cout);
    return 0;
  } catch (const Error& e) {
    std::cerr << "emily inspect: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace emily::cli
