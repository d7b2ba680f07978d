// The per-thread switches behind DecomposeGuard: one bit per family, so asking costs the
// op layer a thread-local load whatever the number of families.
#include "emily/decompose.h"

#include <cstdint>

#include "emily/error.h"

namespace emily {

namespace {

static_assert(static_cast<int>(Family::quant) < 32, "a family's bit must fit in the mask");

thread_local std::uint32_t t_forced = 0;

std::uint32_t bit(Family family) {
  return std::uint32_t{1} << static_cast<int>(family);
}

}  // namespace

bool has_decompositions(Family family) {
  return family == Family::fast || family == Family::quant;
}

bool decomposition_forced(Family family) {
  return (t_forced & bit(family)) != 0;
}

DecomposeGuard::DecomposeGuard(Family family)
    : family_(family), previous_(decomposition_forced(family)) {
  if (!has_decompositions(family))
    EMILY_THROW(ValueError, "DecomposeGuard", "family ", static_cast<int>(family),
                " has no decompositions (only fast and quant do)");
  t_forced |= bit(family);
}

DecomposeGuard::~DecomposeGuard() {
  if (!previous_) t_forced &= ~bit(family_);
}

}  // namespace emily
