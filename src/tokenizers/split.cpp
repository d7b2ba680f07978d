#include "tokenizers/split.h"

namespace emily::tokenizers {

std::vector<NormalizedString> split_at(const NormalizedString& s,
                                       const std::vector<Offsets>& matches, Behavior behavior,
                                       bool invert) {
  // The string as alternating (range, is_match) parts covering every byte.
  struct Part {
    Offsets range;
    bool match;
  };
  std::vector<Part> parts;
  parts.reserve(2 * matches.size() + 1);
  std::size_t at = 0;
  for (const Offsets& m : matches) {
    if (m.start > at) parts.push_back({{at, m.start}, invert});
    parts.push_back({m, !invert});
    at = m.end;
  }
  if (at < s.size()) parts.push_back({{at, s.size()}, invert});

  std::vector<Offsets> pieces;
  pieces.reserve(parts.size());
  bool glue_next = false;  // merged_with_next: the previous match waits for its follower
  bool previous_match = false;
  for (const Part& p : parts) {
    switch (behavior) {
      case Behavior::removed:
        if (!p.match) pieces.push_back(p.range);
        break;
      case Behavior::isolated:
        pieces.push_back(p.range);
        break;
      case Behavior::merged_with_previous:
        // A run of matches glues only its first to the text before it.
        if (p.match && !previous_match && !pieces.empty()) {
          pieces.back().end = p.range.end;
        } else {
          pieces.push_back(p.range);
        }
        previous_match = p.match;
        break;
      case Behavior::merged_with_next:
        // A match glues to the text after it, unless a match follows (mirror of previous).
        if (glue_next && !p.match) {
          pieces.back().end = p.range.end;
        } else {
          pieces.push_back(p.range);
        }
        glue_next = p.match;
        break;
      case Behavior::contiguous:
        if (p.match && glue_next) {
          pieces.back().end = p.range.end;
        } else {
          pieces.push_back(p.range);
        }
        glue_next = p.match;
        break;
    }
  }
  std::vector<NormalizedString> out;
  out.reserve(pieces.size());
  for (const Offsets& r : pieces) {
    if (r.end > r.start) out.push_back(s.slice(r.start, r.end));
  }
  return out;
}

}  // namespace emily::tokenizers
