// GGUF vocabularies become tokenizer.json specifications, which the ordinary loader then
// reads: one pipeline, one set of checks, whichever file the tokenizer came from.
#include "emily/gguf_tokenizer.h"

#include <algorithm>
#include <unordered_map>

#include "emily/error.h"
#include "emily/json.h"
#include "tokenizers/unicode.h"

namespace emily {
namespace {

// The split patterns of tokenizer.ggml.pre names (the public patterns of those models).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

json::Value object(std::initializer_list<std::pair<const char*, json::Value>> members) {
  json::Value v = json::Object{};
  for (const auto& [k, x] : members) v.set(k, x);
  return v;
}

json::Value byte_level(bool use_regex) {
  return object({{"type", "ByteLevel"},
                 {"add_prefix_space", false},
                 {"trim_offsets", false},
                 {"use_regex", use_regex}});
}

json::Value split(const char* pattern) {
  return object({{"type", "Split"},
                 {"pattern", object({{"Regex", pattern}})},
                 {"behavior", "Isolated"},
                 {"invert", false}});
}

// Control (and user-defined) tokens are matched in the text before the model runs.
json::Value added_tokens(const GgufVocabulary& v) {
  json::Value list = json::Array{};
  for (std::size_t id = 0; id < v.token_types.size(); ++id) {
    GgufTokenType t = v.token_types[id];
    if (t != GgufTokenType::control && t != GgufTokenType::user_defined) continue;
    if (v.tokens[id].empty()) continue;
    list.push_back(object({{"id", static_cast<std::int64_t>(id)},
                           {"content", v.tokens[id]},
                           {"single_word", false},
                           {"lstrip", false},
                           {"rstrip", false},
                           {"normalized", false},
                           {"special", t == GgufTokenType::control}}));
  }
  return list;
}

json::Value bos_template(const GgufVocabulary& v, bool default_add_bos, std::string_view source) {
  if (!v.add_bos.value_or(default_add_bos)) return nullptr;
  if (!v.bos_id)
    EMILY_THROW(FormatError, std::string(source).c_str(),
                "add_bos_token is set but tokenizer.ggml.bos_token_id is missing");
  const std::string& bos = v.tokens[static_cast<std::size_t>(*v.bos_id)];
  json::Value special = object({{"SpecialToken", object({{"id", bos}, {"type_id", 0}})}});
  json::Value single =
      json::Array{special, object({{"Sequence", object({{"id", "A"}, {"type_id", 0}})}})};
  json::Value pair =
      json::Array{special, object({{"Sequence", object({{"id", "A"}, {"type_id", 0}})}}), special,
                  object({{"Sequence", object({{"id", "B"}, {"type_id", 1}})}})};
  json::Value specials = json::Object{};
  specials.set(
      bos, object({{"id", bos}, {"ids", json::Array{*v.bos_id}}, {"tokens", json::Array{bos}}}));
  return object({{"type", "TemplateProcessing"},
                 {"single", single},
                 {"pair", pair},
                 {"special_tokens", specials}});
}

// Built as a member list rather than through Value::set, whose search for an existing
// key made this quadratic (seconds for a 49k-token vocabulary). A repeated token keeps
// its last id, as set would.
json::Value vocab_object(const GgufVocabulary& v) {
  json::Object members;
  members.reserve(v.tokens.size());
  std::unordered_map<std::string_view, std::size_t> index;
  for (std::size_t id = 0; id < v.tokens.size(); ++id) {
    auto [at, fresh] = index.emplace(v.tokens[id], members.size());
    if (fresh)
      members.push_back({v.tokens[id], static_cast<std::int64_t>(id)});
    else
      members[at->second].value = static_cast<std::int64_t>(id);
  }
  return json::Value(std::move(members));
}

json::Value gpt2(const GgufVocabulary& v, std::string_view source) {
  std::string pre = v.pre.empty() ? "default" : v.pre;
  json::Value pre_tokenizer;
  bool ignore_merges = false;
  if (pre == "default" || pre == "gpt2" || pre == "gpt-2") {
    pre_tokenizer = byte_level(true);
  } else if (pre == "llama-bpe" || pre == "llama3") {
    pre_tokenizer =
        object({{"type", "Sequence"},
                {"pretokenizers", json::Array{split(kLlama3Pattern), byte_level(false)}}});
    ignore_merges = true;
  } else if (pre == "smollm" || pre == "starcoder") {
    // The tokenizer.json these come from: single digits split off, then GPT-2's split.
    // (Transformers' GGUF loader has no entry for the names and keeps GPT-2's split alone;
    // with SmolLM2's vocabulary, where no merge touches an ASCII digit, both give the same ids.)
    pre_tokenizer = object(
        {{"type", "Sequence"},
         {"pretokenizers", json::Array{object({{"type", "Digits"}, {"individual_digits", true}}),
                                       byte_level(true)}}});
  } else if (pre == "qwen2") {
    pre_tokenizer =
        object({{"type", "Sequence"},
                {"pretokenizers", json::Array{split(kQwen2Pattern), byte_level(false)}}});
  } else {
    EMILY_THROW(Unsupported, std::string(source).c_str(), "GGUF pre-tokenizer '", pre,
                "' is not supported (known: default, gpt2, llama-bpe, qwen2, smollm, starcoder)");
  }
  json::Value merges = json::Array{};
  for (const std::string& m : v.merges) merges.push_back(m);
  json::Value model = object({{"type", "BPE"},
                              {"vocab", vocab_object(v)},
                              {"merges", merges},
                              {"ignore_merges", ignore_merges}});
  return object({{"added_tokens", added_tokens(v)},
                 {"normalizer", pre == "qwen2" ? object({{"type", "NFC"}}) : json::Value()},
                 {"pre_tokenizer", pre_tokenizer},
                 {"model", model},
                 {"post_processor", bos_template(v, false, source)},
                 {"decoder", object({{"type", "ByteLevel"}})}});
}

// SentencePiece scores to BPE merges, as transformers' converter does: every split of a
// piece into two pieces of the vocabulary is a merge; merges of one piece are ordered by
// the ids of their halves, and all of them by the piece's score, highest first.
json::Value merges_from_scores(const GgufVocabulary& v, std::string_view source) {
  if (v.scores.size() != v.tokens.size())
    EMILY_THROW(FormatError, std::string(source).c_str(),
                "a llama vocabulary needs tokenizer.ggml.scores");
  std::unordered_map<std::string_view, std::int64_t> ids;
  for (std::size_t id = 0; id < v.tokens.size(); ++id) ids.emplace(v.tokens[id], id);
  struct Merge {
    std::int64_t left, right;
    float score;
  };
  std::vector<Merge> merges;
  for (std::size_t id = 0; id < v.tokens.size(); ++id) {
    std::string_view piece = v.tokens[id];
    std::vector<Merge> local;
    for (std::size_t at = 0; at < piece.size();) {
      at += tokenizers::unicode::sequence_length(static_cast<unsigned char>(piece[at]));
      if (at >= piece.size()) break;
      auto l = ids.find(piece.substr(0, at));
      auto r = ids.find(piece.substr(at));
      if (l != ids.end() && r != ids.end()) local.push_back({l->second, r->second, v.scores[id]});
    }
    std::sort(local.begin(), local.end(), [](const Merge& a, const Merge& b) {
      return a.left != b.left ? a.left < b.left : a.right < b.right;
    });
    merges.insert(merges.end(), local.begin(), local.end());
  }
  std::stable_sort(merges.begin(), merges.end(),
                   [](const Merge& a, const Merge& b) { return a.score > b.score; });
  json::Value out = json::Array{};
  for (const Merge& m : merges) out.push_back(json::Array{v.tokens[m.left], v.tokens[m.right]});
  return out;
}

json::Value llama(const GgufVocabulary& v, std::string_view source) {
  const std::string space = "\xE2\x96\x81";  // ▁
  bool prefix = v.add_space_prefix.value_or(true);
  json::Value normalizers = json::Array{};
  if (prefix) normalizers.push_back(object({{"type", "Prepend"}, {"prepend", space}}));
  normalizers.push_back(
      object({{"type", "Replace"}, {"pattern", object({{"String", " "}})}, {"content", space}}));
  json::Value model = object({{"type", "BPE"},
                              {"vocab", vocab_object(v)},
                              {"merges", merges_from_scores(v, source)},
                              {"fuse_unk", true},
                              {"byte_fallback", true}});
  if (v.unknown_id) model.set("unk_token", v.tokens[static_cast<std::size_t>(*v.unknown_id)]);
  json::Value decoders = json::Array{
      object({{"type", "Replace"}, {"pattern", object({{"String", space}})}, {"content", " "}}),
      object({{"type", "ByteFallback"}}), object({{"type", "Fuse"}})};
  if (prefix)
    decoders.push_back(object({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}));
  return object({{"added_tokens", added_tokens(v)},
                 {"normalizer", object({{"type", "Sequence"}, {"normalizers", normalizers}})},
                 {"pre_tokenizer", nullptr},
                 {"model", model},
                 {"post_processor", bos_template(v, true, source)},
                 {"decoder", object({{"type", "Sequence"}, {"decoders", decoders}})}});
}

}  // namespace

Tokenizer tokenizer_from_gguf(const GgufVocabulary& vocab, std::string_view source) {
  if (vocab.model == "gpt2") return Tokenizer::from_spec(gpt2(vocab, source), source);
  if (vocab.model == "llama") return Tokenizer::from_spec(llama(vocab, source), source);
  EMILY_THROW(Unsupported, std::string(source).c_str(), "GGUF tokenizer model '", vocab.model,
              "' is not supported (known: gpt2, llama)");
}

}  // namespace emily
