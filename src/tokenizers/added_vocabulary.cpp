#include "tokenizers/added_vocabulary.h"

#include <algorithm>

namespace emily::tokenizers {

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer)
    : tokens_(std::move(tokens)) {
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    AddedToken& t = tokens_[i];
    t.normalized_content = t.content;
    if (t.normalized && normalizer != nullptr) {
      NormalizedString s(t.content, 0);
      normalizer->normalize(s);
      t.normalized_content = s.str();
    }
    by_id_[t.id] = i;
    by_content_.emplace(t.normalized_content, i);
    by_content_[t.content] = i;
  }
  build(raw_, false, normalizer);
  build(normalized_, true, normalizer);
}

void AddedVocabulary::build(Patterns& p, bool normalized, const Normalizer* normalizer) {
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& t = tokens_[i];
    if (t.normalized != normalized || t.content.empty()) continue;
    std::string pattern = normalized ? t.normalized_content : t.content;
    if (pattern.empty()) continue;
    p.all.emplace_back(std::move(pattern), i);
  }
  for (std::size_t k = 0; k < p.all.size(); ++k)
    p.by_first_byte[static_cast<unsigned char>(p.all[k].first[0])].push_back(k);
  for (auto& bucket : p.by_first_byte) {
    std::stable_sort(bucket.begin(), bucket.end(), [&](std::size_t a, std::size_t b) {
      return p.all[a].first.size() > p.all[b].first.size();
    });
  }
}

namespace {

bool ends_with_word(std::string_view s) {
  if (s.empty()) return false;
  std::size_t k = s.size() - 1;
  while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
  int n = 0;
  char32_t c = unicode::decode_at(s, k, &n);
  return unicode::is_alphanumeric(c) || c == '_';
}

bool starts_with_word(std::string_view s) {
  if (s.empty()) return false;
  int n = 0;
  char32_t c = unicode::decode_at(s, 0, &n);
  return unicode::is_alphanumeric(c) || c == '_';
}

}  // namespace

std::vector<Split> AddedVocabulary::split_one(const NormalizedString& s, const Patterns& p) const {
  const std::string& text = s.str();
  std::vector<Split> out;
  std::size_t emitted = 0;  // end of the last piece handed out
  auto plain = [&](std::size_t begin, std::size_t end) {
    if (end > begin) out.push_back({s.slice(begin, end), {}, false});
  };
  for (std::size_t at = 0; at < text.size();) {
    const std::pair<std::string, std::size_t>* hit = nullptr;
    for (std::size_t k : p.by_first_byte[static_cast<unsigned char>(text[at])]) {
      if (text.compare(at, p.all[k].first.size(), p.all[k].first) == 0) {
        hit = &p.all[k];
        break;
      }
    }
    if (hit == nullptr) {
      ++at;
      continue;
    }
    std::size_t start = at, stop = at + hit->first.size();
    at = stop;  // matches never overlap, whether or not this one is kept
    const AddedToken& token = tokens_[hit->second];
    std::string_view view(text);
    if (token.single_word &&
        (ends_with_word(view.substr(0, start)) || starts_with_word(view.substr(stop))))
      continue;
    if (start < emitted) continue;  // inside white space a previous rstrip took
    if (token.lstrip) {
      std::size_t k = start;
      while (k > emitted) {
        std::size_t c = k - 1;
        while (c > emitted && (static_cast<unsigned char>(text[c]) & 0xC0) == 0x80) --c;
        int n = 0;
        if (!unicode::is_whitespace(unicode::decode_at(text, c, &n))) break;
        k = c;
      }
      start = k;
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        int n = 0;
        if (!unicode::is_whitespace(unicode::decode_at(text, stop, &n))) break;
        stop += n;
      }
      at = stop;
    }
    plain(emitted, start);
    Split added{s.slice(start, stop), {}, true};
    // The token's string is the text it covers, white space swallowed by lstrip/rstrip
    // included, as HF reports it.
    added.tokens.push_back({token.id, text.substr(start, stop - start), {0, stop - start}});
    out.push_back(std::move(added));
    emitted = stop;
  }
  plain(emitted, text.size());
  return out;
}

void AddedVocabulary::extract(PreTokenized& splits, bool normalized) const {
  const Patterns& p = normalized ? normalized_ : raw_;
  if (p.empty()) return;
  PreTokenized out;
  for (Split& s : splits) {
    if (s.tokenized) {
      out.push_back(std::move(s));
      continue;
    }
    for (Split& piece : split_one(s.normalized, p)) out.push_back(std::move(piece));
  }
  splits = std::move(out);
}

const AddedToken* AddedVocabulary::find(std::int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::find(std::string_view content) const {
  auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

}  // namespace emily::tokenizers
