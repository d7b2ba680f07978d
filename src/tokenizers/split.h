// Cutting a string at pattern matches, with Hugging Face's SplitDelimiterBehavior: what
// becomes of each match (removed, its own piece, or glued to a neighbour).
#pragma once

#include <vector>

#include "tokenizers/normalized.h"

namespace emily::tokenizers {

enum class Behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

// `matches` are sorted, disjoint byte ranges of s; invert treats the gaps as the matches.
// Empty pieces are dropped.
std::vector<NormalizedString> split_at(const NormalizedString& s,
                                       const std::vector<Offsets>& matches, Behavior behavior,
                                       bool invert = false);

}  // namespace emily::tokenizers
