// Oracle: docs/catalogue.md, the op list the seed system's users call.
#include <fstream>
#include <set>
#include <sstream>

#include "ops/catalogue.h"
#include "support/testing.h"

namespace emily {
namespace {

// Names listed in a section of docs/catalogue.md (lines "group: name name ...").
std::vector<std::string> catalogue_names(const std::string& heading, const std::string& next) {
  std::ifstream f(std::string(EMILY_SOURCE_DIR) + "/docs/catalogue.md");
  std::string line;
  bool in = false;
  std::vector<std::string> names;
  while (std::getline(f, line)) {
    if (line.rfind("## ", 0) == 0) in = line.find(heading) != std::string::npos;
    if (!in || line.find(": ") == std::string::npos || line.rfind("    ", 0) == 0) continue;
    std::stringstream ss(line.substr(line.find(": ") + 2));
    std::string n;
    while (ss >> n) names.push_back(n);
  }
  return names;
}

TEST(Catalogue, EveryDocumentedNameIsListed) {
  std::set<std::string> listed;
  for (const auto& e : catalogue()) listed.insert(std::string(e.name));
  for (const char* section : {"Transformer op set", "The rest", "Fused transformer"}) {
    auto names = catalogue_names(section, "");
    EXPECT_FALSE(names.empty()) << section;
    for (const auto& n : names) EXPECT_TRUE(listed.count(n)) << n;
  }
}

TEST(Catalogue, FoundationRunsOnCpu) {
  auto names = catalogue_names("Transformer op set", "");
  ASSERT_GT(names.size(), 90u);
  for (const auto& n : names) {
    auto s = status(n, Device::Type::cpu);
    EXPECT_TRUE(s == KernelStatus::native || s == KernelStatus::composite) << catalogue_line(n);
  }
}

TEST(Catalogue, LinesHaveTheDocumentedForm) {
  for (const auto& e : catalogue()) {
    std::string line = catalogue_line(e.name);
    std::stringstream ss(line);
    std::string n, cpu, cuda, extra;
    ss >> n >> cpu >> cuda;
    EXPECT_FALSE(ss >> extra) << line;
    EXPECT_EQ(n, e.name);
    EXPECT_EQ(cpu.rfind("cpu=", 0), 0u) << line;
    EXPECT_EQ(cuda.rfind("cuda=", 0), 0u) << line;
#ifndef EMILY_HAS_CUDA
    EXPECT_EQ(cuda, "cuda=missing") << line;
#endif
  }
}

}  // namespace
}  // namespace emily
