// Byte-pair encoding: a word starts as characters (or bytes) and adjacent pairs merge in
// the order of the merge list, lowest rank first and leftmost first among equals.
#include <mutex>
#include <queue>
#include <shared_mutex>
#include <unordered_map>

#include "tokenizers/fields.h"
#include "tokenizers/models.h"

namespace emily::tokenizers {

std::string byte_token(unsigned char b) {
  static const char* hex = "0123456789ABCDEF";
  return std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
}

namespace {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using Vocab = std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>>;

class Bpe : public Model {
 public:
  Bpe(const json::Value& v, std::string_view source) {
    const json::Value& vocab = fields::require(v, "vocab", source);
    if (!vocab.is_object())
      EMILY_THROW(FormatError, std::string(source).c_str(), "BPE vocab must be an object");
    std::int32_t max_id = -1;
    for (const json::Member& m : vocab.as_object()) {
      std::int32_t id = fields::id(m.value, "vocab id of '" + m.key + "'", source);
      vocab_[m.key] = id;
      if (!vocab_r_.emplace(id, m.key).second)
        EMILY_THROW(FormatError, std::string(source).c_str(), "BPE vocab id ", id,
                    " is given to two tokens");
      max_id = std::max(max_id, id);
    }
    // Ids are dense in practice: a table makes id -> token a load, not a hash lookup.
    if (max_id >= 0 && static_cast<std::size_t>(max_id) < 2 * vocab_r_.size() + 1024) {
      dense_.resize(static_cast<std::size_t>(max_id) + 1, nullptr);
      for (const auto& [id, token] : vocab_r_) dense_[id] = &token;
    }
    if (const json::Value* d = fields::optional(v, "dropout");
        d && d->is_number() && d->as_double() > 0)
      EMILY_THROW(Unsupported, std::string(source).c_str(),
                  "BPE dropout is a training-time option and is not supported");
    if (const json::Value* u = fields::optional(v, "unk_token")) {
      if (!u->is_string())
        EMILY_THROW(FormatError, std::string(source).c_str(), "unk_token must be a string");
      unk_token_ = u->as_string();
    }
    prefix_ = fields::string_or(v, "continuing_subword_prefix", "", source);
    suffix_ = fields::string_or(v, "end_of_word_suffix", "", source);
    fuse_unk_ = fields::boolean_or(v, "fuse_unk", false, source);
    byte_fallback_ = fields::boolean_or(v, "byte_fallback", false, source);
    ignore_merges_ = fields::boolean_or(v, "ignore_merges", false, source);

    const json::Array& merges = fields::array(v, "merges", source);
    merges_.reserve(merges.size());
    for (std::size_t rank = 0; rank < merges.size(); ++rank) {
      const json::Value& m = merges[rank];
      std::string a, b;
      if (m.is_string()) {  // "a b"
        const std::string& line = m.as_string();
        std::size_t space = line.find(' ');
        if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
          EMILY_THROW(FormatError, std::string(source).c_str(), "merge ", rank, " '", line,
                      "' is not two tokens separated by one space");
        a = line.substr(0, space);
        b = line.substr(space + 1);
      } else if (m.is_array() && m.size() == 2 && m.as_array()[0].is_string() &&
                 m.as_array()[1].is_string()) {
        a = m.as_array()[0].as_string();
        b = m.as_array()[1].as_string();
      } else {
        EMILY_THROW(FormatError, std::string(source).c_str(), "merge ", rank,
                    " must be \"a b\" or [\"a\", \"b\"]");
      }
      auto ia = vocab_.find(a), ib = vocab_.find(b);
      // The merged token drops b's continuing prefix ("##"), as the trainer built it.
      std::string merged = a + b.substr(std::min(prefix_.size(), b.size()));
      auto im = vocab_.find(merged);
      if (ia == vocab_.end() || ib == vocab_.end() || im == vocab_.end())
        EMILY_THROW(FormatError, std::string(source).c_str(), "merge ", rank, " ('", a, "', '", b,
                    "') names a token that is not in the vocab");
      // A pair listed twice keeps its last rank, as HF's map does.
      merges_[key(ia->second, ib->second)] = Merge{static_cast<std::int32_t>(rank), im->second};
    }
  }

  void tokenize(std::string_view word, std::vector<Token>& out) const override {
    if (word.empty()) return;
    if (ignore_merges_) {
      if (auto it = vocab_.find(word); it != vocab_.end()) {
        out.push_back({it->second, std::string(word), {0, word.size()}});
        return;
      }
    }
    {
      std::shared_lock lock(cache_mutex_);
      if (auto it = cache_.find(word); it != cache_.end()) {
        emit(word, it->second, out);
        return;
      }
    }
    std::vector<Piece> pieces = merge_word(word);
    emit(word, pieces, out);
    std::unique_lock lock(cache_mutex_);
    // A bounded cache: words repeat (Zipf), but input may be adversarially varied.
    if (cache_.size() < kCacheCapacity && word.size() < 256)
      cache_.emplace(word, std::move(pieces));
  }

  std::optional<std::int32_t> token_to_id(std::string_view token) const override {
    auto it = vocab_.find(token);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<std::string> id_to_token(std::int32_t id) const override {
    auto it = vocab_r_.find(id);
    if (it == vocab_r_.end()) return std::nullopt;
    return it->second;
  }
  std::size_t vocab_size() const override { return vocab_.size(); }

 private:
  struct Merge {
    std::int32_t rank;
    std::int32_t id;
  };
  // One token of a word being merged: an id and its length in bytes of the word.
  struct Piece {
    std::int32_t id;
    std::size_t length;
  };
  static constexpr std::size_t kCacheCapacity = 10000;
  static std::uint64_t key(std::int32_t a, std::int32_t b) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) |
           static_cast<std::uint32_t>(b);
  }

  void emit(std::string_view word, const std::vector<Piece>& pieces,
            std::vector<Token>& out) const {
    std::size_t at = 0;
    for (const Piece& p : pieces) {
      std::size_t end = std::min(word.size(), at + p.length);
      const std::string& token =
          static_cast<std::size_t>(p.id) < dense_.size() ? *dense_[p.id] : vocab_r_.at(p.id);
      out.push_back({p.id, token, {at, end}});
      at = end;
    }
  }

  std::vector<Piece> merge_word(std::string_view word) const {
    std::vector<Piece> pieces;
    std::optional<Piece> unk;  // pending unknown run (fused when fuse_unk)
    std::string s;
    for (std::size_t i = 0; i < word.size();) {
      std::size_t n = std::min<std::size_t>(
          unicode::sequence_length(static_cast<unsigned char>(word[i])), word.size() - i);
      bool first = i == 0, last = i + n == word.size();
      s.clear();
      if (!first) s += prefix_;
      s.append(word.substr(i, n));
      if (last) s += suffix_;
      i += n;
      if (auto it = vocab_.find(s); it != vocab_.end()) {
        if (unk) pieces.push_back(*std::exchange(unk, std::nullopt));
        pieces.push_back({it->second, n});
        continue;
      }
      if (byte_fallback_) {
        std::vector<std::int32_t> bytes;
        for (unsigned char b : s) {
          auto it = vocab_.find(byte_token(b));
          if (it == vocab_.end()) break;
          bytes.push_back(it->second);
        }
        if (bytes.size() == s.size()) {
          if (unk) pieces.push_back(*std::exchange(unk, std::nullopt));
          for (std::int32_t id : bytes) pieces.push_back({id, 1});
          continue;
        }
      }
      if (!unk_token_) continue;  // no unknown token: the character is dropped, as in HF
      auto it = vocab_.find(*unk_token_);
      if (it == vocab_.end())
        EMILY_THROW(ValueError, "tokenizer", "BPE unk_token '", *unk_token_,
                    "' is not in the vocab");
      if (unk && fuse_unk_) {
        unk->length += n;
      } else {
        if (unk) pieces.push_back(*unk);
        unk = Piece{it->second, n};
      }
    }
    if (unk) pieces.push_back(*unk);
    merge(pieces);
    return pieces;
  }

  // Applies merges lowest rank first; a doubly linked list keeps each merge O(log n).
  void merge(std::vector<Piece>& pieces) const {
    std::size_t n = pieces.size();
    if (n < 2) return;
    std::vector<std::ptrdiff_t> prev(n), next(n);
    for (std::size_t i = 0; i < n; ++i) {
      prev[i] = static_cast<std::ptrdiff_t>(i) - 1;
      next[i] = i + 1 < n ? static_cast<std::ptrdiff_t>(i + 1) : -1;
    }
    struct Candidate {
      std::int32_t rank;
      std::size_t pos;
      std::int32_t id;
      bool operator>(const Candidate& o) const {
        return rank != o.rank ? rank > o.rank : pos > o.pos;
      }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    auto consider = [&](std::size_t left) {
      std::ptrdiff_t right = next[left];
      if (right < 0) return;
      auto it = merges_.find(key(pieces[left].id, pieces[right].id));
      if (it != merges_.end()) queue.push({it->second.rank, left, it->second.id});
    };
    for (std::size_t i = 0; i + 1 < n; ++i) consider(i);
    while (!queue.empty()) {
      Candidate c = queue.top();
      queue.pop();
      if (pieces[c.pos].length == 0) continue;  // merged into its left neighbour already
      std::ptrdiff_t right = next[c.pos];
      if (right < 0) continue;
      // Stale entry: the pair changed since it was queued.
      auto it = merges_.find(key(pieces[c.pos].id, pieces[right].id));
      if (it == merges_.end() || it->second.id != c.id || it->second.rank != c.rank) continue;
      pieces[c.pos] = {c.id, pieces[c.pos].length + pieces[right].length};
      pieces[right].length = 0;
      next[c.pos] = next[right];
      if (next[right] >= 0) prev[next[right]] = static_cast<std::ptrdiff_t>(c.pos);
      if (prev[c.pos] >= 0) consider(static_cast<std::size_t>(prev[c.pos]));
      consider(c.pos);
    }
    std::vector<Piece> kept;
    kept.reserve(n);
    for (std::ptrdiff_t i = 0; i >= 0; i = next[i]) kept.push_back(pieces[i]);
    pieces = std::move(kept);
  }

  Vocab vocab_;
  std::unordered_map<std::int32_t, std::string> vocab_r_;
  std::vector<const std::string*> dense_;  // id -> token, when ids are dense
  std::unordered_map<std::uint64_t, Merge> merges_;
  std::optional<std::string> unk_token_;
  std::string prefix_, suffix_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<Piece>, StringHash, std::equal_to<>> cache_;
};

}  // namespace

std::unique_ptr<Model> make_bpe(const json::Value& v, std::string_view source) {
  return std::make_unique<Bpe>(v, source);
}

}  // namespace emily::tokenizers
