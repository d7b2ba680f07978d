#include "emily/tokenizer.h"

#include <algorithm>

#include "emily/error.h"
#include "emily/json.h"
#include "tokenizers/fields.h"
#include "tokenizers/pipeline.h"

namespace emily {
namespace tokenizers {

Encoding Pipeline::encode_sequence(std::string_view text, std::int32_t type_id) const {
  PreTokenized splits;
  splits.push_back({NormalizedString(text, 0), {}, false});
  added.extract(splits, /*normalized=*/false);
  if (normalizer) {
    for (Split& s : splits)
      if (!s.tokenized) normalizer->normalize(s.normalized);
  }
  added.extract(splits, /*normalized=*/true);
  if (pre_tokenizer) pre_tokenizer->pre_tokenize(splits);

  Encoding e;
  std::vector<Token> tokens;
  for (Split& s : splits) {
    if (!s.tokenized) {
      tokens.clear();
      model->tokenize(s.normalized.str(), tokens);
      s.tokens = std::move(tokens);
    }
    for (Token& t : s.tokens) {
      Offsets o = s.normalized.original(t.offsets.start, t.offsets.end);
      e.ids.push_back(t.id);
      e.tokens.push_back(std::move(t.value));
      e.offsets.emplace_back(o.start, o.end);
    }
  }
  e.type_ids.assign(e.size(), type_id);
  e.special_tokens_mask.assign(e.size(), 0);
  e.attention_mask.assign(e.size(), 1);
  return e;
}

namespace {

void truncate(Encoding& e, std::size_t keep, Direction direction) {
  if (e.size() <= keep) return;
  auto cut = [&](auto& v) {
    if (direction == Direction::right) {
      v.resize(keep);
    } else {
      v.erase(v.begin(), v.end() - static_cast<std::ptrdiff_t>(keep));
    }
  };
  cut(e.ids);
  cut(e.tokens);
  cut(e.offsets);
  cut(e.type_ids);
  cut(e.special_tokens_mask);
  cut(e.attention_mask);
}

void pad(Encoding& e, std::size_t length, const Padding& p) {
  if (e.size() >= length) return;
  std::size_t n = length - e.size();
  auto fill = [&](auto& v, auto value) {
    auto at = p.direction == Direction::right ? v.end() : v.begin();
    v.insert(at, n, value);
  };
  fill(e.ids, p.pad_id);
  fill(e.tokens, p.pad_token);
  fill(e.offsets, std::pair<std::size_t, std::size_t>(0, 0));
  fill(e.type_ids, p.pad_type_id);
  fill(e.special_tokens_mask, std::uint8_t{1});
  fill(e.attention_mask, std::uint8_t{0});
}

std::size_t padded_length(std::size_t longest, const Padding& p) {
  std::size_t n = p.length.value_or(longest);
  if (p.multiple_of > 0 && n % p.multiple_of != 0) n += p.multiple_of - n % p.multiple_of;
  return n;
}

Direction direction_of(const json::Value& v, std::string_view source) {
  std::string d = fields::string_or(v, "direction", "Right", source);
  if (d == "Right") return Direction::right;
  if (d == "Left") return Direction::left;
  EMILY_THROW(FormatError, std::string(source).c_str(), "direction must be Left or Right, not '", d,
              "'");
}

AddedToken added_token(const json::Value& v, std::string_view source) {
  AddedToken t;
  t.content = fields::string(v, "content", source);
  t.id = fields::id(fields::require(v, "id", source), "added token id", source);
  t.single_word = fields::boolean_or(v, "single_word", false, source);
  t.lstrip = fields::boolean_or(v, "lstrip", false, source);
  t.rstrip = fields::boolean_or(v, "rstrip", false, source);
  t.special = fields::boolean_or(v, "special", false, source);
  t.normalized = fields::boolean_or(v, "normalized", !t.special, source);
  return t;
}

std::shared_ptr<Pipeline> load(const json::Value& root, std::string_view source) {
  if (!root.is_object())
    EMILY_THROW(FormatError, std::string(source).c_str(), "a tokenizer file is a JSON object");
  auto p = std::make_shared<Pipeline>();
  if (const json::Value* v = fields::optional(root, "normalizer"))
    p->normalizer = make_normalizer(*v, source);
  if (const json::Value* v = fields::optional(root, "pre_tokenizer"))
    p->pre_tokenizer = make_pre_tokenizer(*v, source);
  p->model = make_model(fields::require(root, "model", source), source);
  if (const json::Value* v = fields::optional(root, "post_processor"))
    p->post_processor = make_post_processor(*v, source);
  if (const json::Value* v = fields::optional(root, "decoder"))
    p->decoder = make_decoder(*v, source);

  std::vector<AddedToken> added;
  if (const json::Value* list = fields::optional(root, "added_tokens")) {
    if (!list->is_array())
      EMILY_THROW(FormatError, std::string(source).c_str(), "added_tokens must be an array");
    for (const json::Value& t : list->as_array()) added.push_back(added_token(t, source));
  }
  p->added = AddedVocabulary(std::move(added), p->normalizer.get());

  if (const json::Value* t = fields::optional(root, "truncation")) {
    std::string strategy = fields::string_or(*t, "strategy", "LongestFirst", source);
    if (strategy != "LongestFirst")
      EMILY_THROW(Unsupported, std::string(source).c_str(), "truncation strategy '", strategy,
                  "' is not supported");
    if (fields::integer_or(*t, "stride", 0, source) != 0)
      EMILY_THROW(Unsupported, std::string(source).c_str(),
                  "truncation with a stride (overflowing tokens) is not supported");
    Truncation tr;
    std::int64_t max_length = fields::integer(*t, "max_length", source);
    if (max_length < 0)
      EMILY_THROW(FormatError, std::string(source).c_str(), "truncation max_length is negative");
    tr.max_length = static_cast<std::size_t>(max_length);
    tr.direction = direction_of(*t, source);
    p->truncation = tr;
  }
  if (const json::Value* v = fields::optional(root, "padding")) {
    Padding pd;
    const json::Value& strategy = fields::require(*v, "strategy", source);
    if (strategy.is_object()) {
      std::int64_t n = fields::integer(strategy, "Fixed", source);
      if (n < 0)
        EMILY_THROW(FormatError, std::string(source).c_str(), "padding length is negative");
      pd.length = static_cast<std::size_t>(n);
    } else if (!strategy.is_string() || strategy.as_string() != "BatchLongest") {
      EMILY_THROW(FormatError, std::string(source).c_str(),
                  "padding strategy must be \"BatchLongest\" or {\"Fixed\": n}");
    }
    pd.direction = direction_of(*v, source);
    pd.multiple_of = static_cast<std::size_t>(
        std::max<std::int64_t>(0, fields::integer_or(*v, "pad_to_multiple_of", 0, source)));
    pd.pad_id = fields::id(fields::require(*v, "pad_id", source), "pad_id", source);
    pd.pad_type_id = static_cast<std::int32_t>(fields::integer_or(*v, "pad_type_id", 0, source));
    pd.pad_token = fields::string_or(*v, "pad_token", "[PAD]", source);
    p->padding = pd;
  }
  return p;
}

}  // namespace
}  // namespace tokenizers

Tokenizer Tokenizer::from_json(std::string_view text, std::string_view source_name) {
  Tokenizer t;
  auto p = tokenizers::load(json::parse(text, source_name), source_name);
  t.truncation_ = p->truncation;
  t.padding_ = p->padding;
  t.pipeline_ = std::move(p);
  return t;
}

Tokenizer Tokenizer::from_spec(const json::Value& spec, std::string_view source_name) {
  Tokenizer t;
  auto p = tokenizers::load(spec, source_name);
  t.truncation_ = p->truncation;
  t.padding_ = p->padding;
  t.pipeline_ = std::move(p);
  return t;
}

Tokenizer Tokenizer::from_file(const std::string& path) {
  Tokenizer t;
  auto p = tokenizers::load(json::parse_file(path), path);
  t.truncation_ = p->truncation;
  t.padding_ = p->padding;
  t.pipeline_ = std::move(p);
  return t;
}

Encoding Tokenizer::encode_impl(std::string_view text, const std::string_view* pair,
                                bool add_special_tokens) const {
  if (!pipeline_) EMILY_THROW(ValueError, "tokenizer", "encode on an empty Tokenizer");
  for (std::string_view s : {text, pair ? *pair : std::string_view()}) {
    if (std::size_t bad = tokenizers::unicode::first_invalid_utf8(s); bad != std::string_view::npos)
      EMILY_THROW(ValueError, "tokenizer", "input is not valid UTF-8 (byte ", bad, ")");
  }
  std::vector<Encoding> parts;
  parts.push_back(pipeline_->encode_sequence(text, 0));
  if (pair) parts.push_back(pipeline_->encode_sequence(*pair, 1));

  if (truncation_) {
    std::size_t room = truncation_->max_length;
    if (add_special_tokens && pipeline_->post_processor) {
      std::size_t added = pipeline_->post_processor->added_tokens(pair != nullptr);
      room = room > added ? room - added : 0;
    }
    if (parts.size() == 1) {
      tokenizers::truncate(parts[0], room, truncation_->direction);
    } else {
      // Longest first: take one token at a time from whichever sequence is longer.
      std::size_t n1 = parts[0].size(), n2 = parts[1].size();
      while (n1 + n2 > room) (n1 > n2 ? n1 : n2)--;
      tokenizers::truncate(parts[0], n1, truncation_->direction);
      tokenizers::truncate(parts[1], n2, truncation_->direction);
    }
  }
  if (pipeline_->post_processor) pipeline_->post_processor->process(parts, add_special_tokens);
  Encoding out = std::move(parts[0]);
  for (std::size_t k = 1; k < parts.size(); ++k) {
    const Encoding& s = parts[k];
    out.ids.insert(out.ids.end(), s.ids.begin(), s.ids.end());
    out.tokens.insert(out.tokens.end(), s.tokens.begin(), s.tokens.end());
    out.offsets.insert(out.offsets.end(), s.offsets.begin(), s.offsets.end());
    out.type_ids.insert(out.type_ids.end(), s.type_ids.begin(), s.type_ids.end());
    out.special_tokens_mask.insert(out.special_tokens_mask.end(), s.special_tokens_mask.begin(),
                                   s.special_tokens_mask.end());
    out.attention_mask.insert(out.attention_mask.end(), s.attention_mask.begin(),
                              s.attention_mask.end());
  }
  return out;
}

Encoding Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  Encoding e = encode_impl(text, nullptr, add_special_tokens);
  if (padding_) tokenizers::pad(e, tokenizers::padded_length(e.size(), *padding_), *padding_);
  return e;
}

Encoding Tokenizer::encode_pair(std::string_view text, std::string_view pair,
                                bool add_special_tokens) const {
  Encoding e = encode_impl(text, &pair, add_special_tokens);
  if (padding_) tokenizers::pad(e, tokenizers::padded_length(e.size(), *padding_), *padding_);
  return e;
}

std::vector<Encoding> Tokenizer::encode_batch(std::span<const std::string> texts,
                                              bool add_special_tokens) const {
  std::vector<Encoding> out;
  out.reserve(texts.size());
  std::size_t longest = 0;
  for (const std::string& t : texts) {
    out.push_back(encode_impl(t, nullptr, add_special_tokens));
    longest = std::max(longest, out.back().size());
  }
  if (padding_) {
    std::size_t length = tokenizers::padded_length(longest, *padding_);
    for (Encoding& e : out) tokenizers::pad(e, length, *padding_);
  }
  return out;
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const {
  if (!pipeline_) EMILY_THROW(ValueError, "tokenizer", "decode on an empty Tokenizer");
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (std::int32_t id : ids) {
    if (const tokenizers::AddedToken* a = pipeline_->added.find(id)) {
      if (!(skip_special_tokens && a->special)) tokens.push_back(a->normalized_content);
      continue;
    }
    std::optional<std::string> t = pipeline_->model->id_to_token(id);
    if (!t) EMILY_THROW(ValueError, "tokenizer", "decode: id ", id, " is not in the vocabulary");
    tokens.push_back(std::move(*t));
  }
  std::string text;
  if (pipeline_->decoder) {
    pipeline_->decoder->decode_chain(tokens);
    for (const std::string& t : tokens) text += t;
  } else {
    for (std::size_t i = 0; i < tokens.size(); ++i) text += (i ? " " : "") + tokens[i];
  }
  return text;
}

std::optional<std::int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (!pipeline_) return std::nullopt;
  if (const tokenizers::AddedToken* a = pipeline_->added.find(token)) return a->id;
  return pipeline_->model->token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(std::int32_t id) const {
  if (!pipeline_) return std::nullopt;
  if (const tokenizers::AddedToken* a = pipeline_->added.find(id)) return a->normalized_content;
  return pipeline_->model->id_to_token(id);
}

bool Tokenizer::is_special(std::int32_t id) const {
  if (!pipeline_) return false;
  const tokenizers::AddedToken* a = pipeline_->added.find(id);
  return a != nullptr && a->special;
}

std::size_t Tokenizer::vocab_size(bool with_added_tokens) const {
  if (!pipeline_) return 0;
  std::size_t n = pipeline_->model->vocab_size();
  if (with_added_tokens) {
    for (const tokenizers::AddedToken& a : pipeline_->added.tokens())
      if (!pipeline_->model->token_to_id(a.content)) ++n;
  }
  return n;
}

}  // namespace emily
