// A Tokenizer from the vocabulary a GGUF file carries (tokenizer.ggml.*, see gguf.h).
//
//   GgufFile f = GgufFile::open("model.gguf");
//   Tokenizer tok = tokenizer_from_gguf(vocabulary(f), f.path());
//
// "gpt2" vocabularies are byte-level BPE (tokens and merges); tokenizer.ggml.pre picks the
// split pattern: "default"/"gpt2" (GPT-2's), "llama-bpe" (Llama 3's, with ignore_merges),
// "qwen2", or "smollm"/"starcoder" (digits split one by one, then GPT-2's); another name
// raises Unsupported naming it. "llama" vocabularies are SentencePiece: merges come
// from the scores (every split of a piece into two pieces,
// ranked by the piece's score, as transformers converts them), spaces become "▁", a space
// is prepended unless add_space_prefix is false, unknown characters fall back to the
// <0xXX> byte tokens. In both, control tokens become special added tokens and
// user-defined ones plain added tokens; add_bos (default: on for llama, off for gpt2)
// puts the BOS token first. Other vocabulary types raise Unsupported.
#pragma once

#include <string_view>

#include "emily/gguf.h"
#include "emily/tokenizer.h"

namespace emily {

Tokenizer tokenizer_from_gguf(const GgufVocabulary& vocab, std::string_view source = "gguf");

}  // namespace emily
