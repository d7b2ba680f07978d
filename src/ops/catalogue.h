// The op catalogue of docs/catalogue.md and, per backend, how each name runs there.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "emily/backend.h"

namespace emily {

struct CatalogueEntry {
  std::string_view name;
  std::string_view section;  // "foundation", "rest", "fast", "extra"
};

// Every catalogue name, in the catalogue's order, then the extra ops Emily adds.
const std::vector<CatalogueEntry>& catalogue();
// The primitives a composite name is built from; nullptr for primitives and unknown names.
// tests/ops/test_catalogue.cpp checks this list against what the composite dispatches.
const std::vector<std::string_view>* composite_parts(std::string_view name);
KernelStatus status(std::string_view name, Device::Type backend);
// "NAME cpu=STATUS cuda=STATUS", the line `emily ops` prints.
std::string catalogue_line(std::string_view name);

}  // namespace emily
