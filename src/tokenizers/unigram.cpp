// Unigram (SentencePiece): the segmentation of highest total log-probability, found by
// Viterbi over character positions. Ties keep the first candidate found, scanning starts
// left to right and lengths short to long, which is the order Hugging Face uses.
#include <cmath>
#include <limits>
#include <unordered_map>

#include "tokenizers/fields.h"
#include "tokenizers/models.h"

namespace emily::tokenizers {
namespace {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Unknown characters score this far below the least likely piece.
constexpr double kUnknownPenalty = 10.0;

class Unigram : public Model {
 public:
  Unigram(const json::Value& v, std::string_view source) {
    const json::Array& vocab = fields::array(v, "vocab", source);
    pieces_.reserve(vocab.size());
    double min_score = std::numeric_limits<double>::infinity();
    for (std::size_t id = 0; id < vocab.size(); ++id) {
      const json::Value& e = vocab[id];
      if (!e.is_array() || e.size() != 2 || !e.as_array()[0].is_string() ||
          !e.as_array()[1].is_number())
        EMILY_THROW(FormatError, std::string(source).c_str(), "Unigram vocab entry ", id,
                    " must be [piece, score]");
      double score = e.as_array()[1].as_double();
      if (!std::isfinite(score))
        EMILY_THROW(FormatError, std::string(source).c_str(), "Unigram score of entry ", id,
                    " is not finite");
      pieces_.push_back({e.as_array()[0].as_string(), score});
      ids_.emplace(e.as_array()[0].as_string(), static_cast<std::int32_t>(id));
      max_length_ = std::max(max_length_, e.as_array()[0].as_string().size());
      min_score = std::min(min_score, score);
    }
    if (pieces_.size() > static_cast<std::size_t>(INT32_MAX))
      EMILY_THROW(FormatError, std::string(source).c_str(), "Unigram vocab is too large");
    unk_score_ = min_score - kUnknownPenalty;
    if (const json::Value* u = fields::optional(v, "unk_id")) {
      std::int32_t id = fields::id(*u, "unk_id", source);
      if (static_cast<std::size_t>(id) >= pieces_.size())
        EMILY_THROW(FormatError, std::string(source).c_str(), "Unigram unk_id ", id,
                    " is past the vocab (", pieces_.size(), " entries)");
      unk_id_ = id;
    }
    byte_fallback_ = fields::boolean_or(v, "byte_fallback", false, source);
  }

  void tokenize(std::string_view text, std::vector<Token>& out) const override {
    if (text.empty()) return;
    std::vector<std::string_view> pieces = segment(text);
    std::size_t at = 0;
    for (std::string_view p : pieces) {
      Offsets offsets{at, at + p.size()};
      at += p.size();
      if (auto it = ids_.find(p); it != ids_.end()) {
        out.push_back({it->second, std::string(p), offsets});
        continue;
      }
      if (byte_fallback_) {
        std::vector<Token> bytes;
        for (unsigned char b : p) {
          auto it = ids_.find(byte_token(b));
          if (it == ids_.end()) break;
          bytes.push_back({it->second, byte_token(b), offsets});
        }
        if (bytes.size() == p.size()) {
          out.insert(out.end(), bytes.begin(), bytes.end());
          continue;
        }
      }
      // The unknown token keeps the text it stands for as its string, as HF does.
      out.push_back({unknown_id(), std::string(p), offsets});
    }
  }

  std::optional<std::int32_t> token_to_id(std::string_view token) const override {
    auto it = ids_.find(token);
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<std::string> id_to_token(std::int32_t id) const override {
    if (id < 0 || static_cast<std::size_t>(id) >= pieces_.size()) return std::nullopt;
    return pieces_[id].text;
  }
  std::size_t vocab_size() const override { return pieces_.size(); }

 private:
  struct Piece {
    std::string text;
    double score;
  };
  struct Node {
    std::int32_t id = 0;
    double score = 0;
    std::ptrdiff_t start = -1;  // -1: no path reaches here yet
  };

  std::int32_t unknown_id() const {
    if (!unk_id_)
      EMILY_THROW(ValueError, "tokenizer", "Unigram met an unknown piece but has no unk_id");
    return *unk_id_;
  }

  std::vector<std::string_view> segment(std::string_view text) const {
    std::size_t n = text.size();
    std::vector<Node> best(n + 1);
    best[0].start = 0;
    for (std::size_t start = 0; start < n;) {
      std::size_t char_length = std::min<std::size_t>(
          unicode::sequence_length(static_cast<unsigned char>(text[start])), n - start);
      double here = best[start].score;
      bool has_single = false;
      auto offer = [&](std::size_t end, std::int32_t id, double score) {
        Node& target = best[end];
        double candidate = here + score;
        if (target.start < 0 || candidate > target.score) {
          target = {id, candidate, static_cast<std::ptrdiff_t>(start)};
        }
      };
      std::size_t limit = std::min(n, start + max_length_);
      for (std::size_t end = start + char_length; end <= limit;) {
        if (auto it = ids_.find(text.substr(start, end - start)); it != ids_.end()) {
          offer(end, it->second, pieces_[it->second].score);
          if (end - start == char_length) has_single = true;
        }
        if (end == n) break;
        end += unicode::sequence_length(static_cast<unsigned char>(text[end]));
      }
      if (!has_single) offer(start + char_length, unknown_id(), unk_score_);
      start += char_length;
    }
    // Walk back; consecutive unknown pieces fuse into one.
    std::vector<std::string_view> pieces;
    std::size_t unknown_start = n, unknown_end = n;
    bool in_unknown = false;
    for (std::size_t end = n; end > 0;) {
      const Node& node = best[end];
      std::size_t start = static_cast<std::size_t>(node.start);
      if (unk_id_ && node.id == *unk_id_) {
        if (!in_unknown) unknown_end = end;
        in_unknown = true;
        unknown_start = start;
      } else {
        if (in_unknown) pieces.push_back(text.substr(unknown_start, unknown_end - unknown_start));
        in_unknown = false;
        pieces.push_back(text.substr(start, end - start));
      }
      end = start;
    }
    if (in_unknown) pieces.push_back(text.substr(unknown_start, unknown_end - unknown_start));
    return {pieces.rbegin(), pieces.rend()};
  }

  std::vector<Piece> pieces_;
  std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>> ids_;
  std::size_t max_length_ = 0;
  double unk_score_ = 0;
  std::optional<std::int32_t> unk_id_;
  bool byte_fallback_ = false;
};

}  // namespace

std::unique_ptr<Model> make_unigram(const json::Value& v, std::string_view source) {
  return std::make_unique<Unigram>(v, source);
}

std::unique_ptr<Model> make_model(const json::Value& v, std::string_view source) {
  // Files written by old versions have no "type"; their fields say which model it is.
  std::string type = fields::string_or(v, "type", "", source);
  if (type.empty()) {
    if (fields::optional(v, "merges"))
      type = "BPE";
    else if (fields::optional(v, "max_input_chars_per_word"))
      type = "WordPiece";
    else if (const json::Value* vocab = fields::optional(v, "vocab"); vocab && vocab->is_array())
      type = "Unigram";
  }
  if (type == "BPE") return make_bpe(v, source);
  if (type == "WordPiece") return make_wordpiece(v, source);
  if (type == "Unigram") return make_unigram(v, source);
  if (type.empty()) EMILY_THROW(FormatError, std::string(source).c_str(), "model has no \"type\"");
  EMILY_THROW(Unsupported, std::string(source).c_str(), "model type '", type, "' is not supported");
}

}  // namespace emily::tokenizers
