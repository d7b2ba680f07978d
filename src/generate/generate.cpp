// The decode loop of generate.h. The host builds the padded prompt, runs the prefill
// eagerly (its shape changes with every prompt, so a trace would never be replayed),
// then replays one compiled step per token. Everything the step needs from one token to
// the next (next token, positions, write offset, key mask, sampling key, seen tokens,
// caches) is among its results, so the loop only feeds results back as inputs and reads
// the new tokens. On a GPU it queues step t + 1 before it waits for step t's token
// (GeneratorOptions::queue_ahead), so the host's work between steps overlaps the GPU's.
#include "emily/generate.h"

#include <algorithm>
#include <chrono>

#include "emily/error.h"
#include "emily/host_read.h"
#include "emily/ops.h"
#include "emily/random.h"
#include "generate/text_stream.h"

namespace emily {

namespace {

using Clock = std::chrono::steady_clock;

// Cache lengths are rounded up to this, so that the turns of a chat, whose prompts
// grow a little each time, mostly reuse one trace of the step. Slots past the end are
// masked, at the price of attention over them.
constexpr std::int64_t kCacheQuantum = 256;

// The decode step's inputs, in order; the caches follow.
enum StepInput { kTokens, kPositions, kOffset, kKeyMask, kKey, kSeen, kSlots, kVocabIds, kCaches };
// Its results: the same first six, then the caches.
constexpr int kCarried = kSlots;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Tensor s32_tensor(const std::vector<std::int32_t>& values, const Shape& shape, Device device) {
  return to_device(from_blob(values.data(), shape, DType::s32), device);
}

Tensor bool_tensor(const std::vector<std::uint8_t>& values, const Shape& shape, Device device) {
  return to_device(from_blob(values.data(), shape, DType::bool_), device);
}

struct Sampled {
  Tensor next;  // {B} s32
  Tensor key;   // for the next draw
  Tensor seen;  // with the new tokens marked
};

// One draw from {B, V} logits. The same function runs eagerly after the prefill and
// traced inside the step, so both draw alike.
Sampled sample_next(const Tensor& logits, const Tensor& key, const Tensor& seen,
                    const Tensor& vocab_ids, const SamplingOptions& sampling) {
  Tensor draw_key = key, next_key = key;
  if (!sampling.greedy()) {
    Tensor keys = random::split(key, 2);
    next_key = reshape(slice(keys, {0, 0}, {1, 2}), {2});
    draw_key = reshape(slice(keys, {1, 0}, {2, 2}), {2});
  }
  Tensor next = sample_tokens(process_logits(logits, seen, sampling), draw_key, sampling);
  Tensor new_seen = seen;
  if (sampling.repetition_penalty != 1.0) {
    Tensor hit = equal(reshape(vocab_ids, {1, -1}), reshape(next, {-1, 1}));
    new_seen = logical_or(seen, hit);
  }
  return {next, next_key, new_seen};
}

SamplingOptions trace_key(SamplingOptions s) {
  s.seed = 0;  // the seed is an input tensor, not part of the trace
  return s;
}

struct Row {
  GeneratedRow out;
  std::optional<generate_detail::TextStream> stream;
  bool live = true;
};

}  // namespace

std::string_view to_string(FinishReason reason) {
  switch (reason) {
    case FinishReason::eos:
      return "eos";
    case FinishReason::stop_string:
      return "stop_string";
    case FinishReason::max_tokens:
      return "max_tokens";
  }
  return "?";
}

double GenerationStats::prefill_tokens_per_second() const {
  return prefill_seconds > 0 ? static_cast<double>(prompt_tokens) / prefill_seconds : 0.0;
}

double GenerationStats::decode_tokens_per_second() const {
  return decode_seconds > 0 ? static_cast<double>(decode_tokens) / decode_seconds : 0.0;
}

struct Generator::Step {
  CompiledFunction fn;
  SamplingOptions sampling;
  std::int64_t batch = 0, cache_length = 0;
};

Generator::Generator(const models::CausalLM& model, GeneratorOptions options)
    : model_(&model), options_(std::move(options)) {}
Generator::~Generator() = default;
Generator::Generator(Generator&&) noexcept = default;
Generator& Generator::operator=(Generator&&) noexcept = default;

std::size_t Generator::step_traces() const {
  return step_ ? step_->fn.cached_signatures() : 0;
}

GenerateResult Generator::generate(const std::vector<std::vector<std::int32_t>>& prompts,
                                   const GenerateOptions& options, const TextCallback& on_text) {
  const char* op = "generate";
  const models::CausalLM& model = *model_;
  const Device device = model.device();
  const std::int64_t vocab = model.config().vocab_size;
  const std::int64_t batch = static_cast<std::int64_t>(prompts.size());
  options.sampling.validate();
  if (batch == 0) EMILY_THROW(ValueError, op, "no prompts");
  if (vocab <= 0) EMILY_THROW(ValueError, op, "the model's vocab_size is ", vocab);
  if (options.max_tokens < 1)
    EMILY_THROW(ValueError, op, "max_tokens must be >= 1, got ", options.max_tokens);
  if (options.prefill_chunk < 0)
    EMILY_THROW(ValueError, op, "prefill_chunk must be >= 0, got ", options.prefill_chunk);
  if (!options.stop_strings.empty() && !options_.tokenizer)
    EMILY_THROW(ValueError, op, "stop strings need a tokenizer");
  for (std::int32_t id : options.eos_ids)
    if (id < 0 || id >= vocab)
      EMILY_THROW(ValueError, op, "eos id ", id, " is outside the vocabulary");

  std::int64_t length = 0, prompt_tokens = 0;
  for (std::size_t r = 0; r < prompts.size(); ++r) {
    if (prompts[r].empty()) EMILY_THROW(ValueError, op, "prompt ", r, " is empty");
    for (std::int32_t id : prompts[r])
      if (id < 0 || id >= vocab)
        EMILY_THROW(ValueError, op, "prompt ", r, " holds token id ", id,
                    ", outside the vocabulary of ", vocab);
    length = std::max<std::int64_t>(length, static_cast<std::int64_t>(prompts[r].size()));
    prompt_tokens += static_cast<std::int64_t>(prompts[r].size());
  }
  std::int64_t max_tokens = options.max_tokens;
  if (std::int64_t limit = model.config().max_position_embeddings; limit > 0) {
    if (length >= limit)
      EMILY_THROW(ValueError, op, "a prompt of ", length,
                  " tokens leaves no room in the model's context of ", limit);
    max_tokens = std::min(max_tokens, limit - length);
  }
  const std::int64_t cache_length =
      (length + max_tokens + kCacheQuantum - 1) / kCacheQuantum * kCacheQuantum;

  // Left padding: row r's real tokens end at slot `length`, so every row's next token
  // goes to the same slot and one write offset serves the batch.
  std::vector<std::int64_t> pad(prompts.size());
  for (std::size_t r = 0; r < prompts.size(); ++r)
    pad[r] = length - static_cast<std::int64_t>(prompts[r].size());

  std::vector<Row> rows(prompts.size());
  for (Row& row : rows)
    if (options_.tokenizer) row.stream.emplace(*options_.tokenizer, options.stop_strings);

  GenerateResult result;
  GenerationStats& stats = result.stats;
  stats.prompt_tokens = prompt_tokens;

  // Takes the new tokens of every live row; returns whether any row is still live.
  auto accept = [&](const std::vector<std::int32_t>& next) {
    bool any = false;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      Row& row = rows[r];
      if (!row.live) continue;
      const std::int32_t id = next[r];
      row.out.tokens.push_back(id);
      ++stats.generated_tokens;
      std::string piece;
      const bool eos =
          std::find(options.eos_ids.begin(), options.eos_ids.end(), id) != options.eos_ids.end();
      if (eos) {
        row.live = false;
        row.out.finish = FinishReason::eos;
      } else if (row.stream) {
        piece = row.stream->push(id);
        if (row.stream->stopped()) {
          row.live = false;
          row.out.finish = FinishReason::stop_string;
        }
      }
      if (row.live && static_cast<std::int64_t>(row.out.tokens.size()) >= max_tokens) {
        row.live = false;
        row.out.finish = FinishReason::max_tokens;
      }
      if (!row.live && row.stream) piece += row.stream->finish();
      if (on_text && !piece.empty()) on_text(r, piece);
      any = any || row.live;
    }
    return any;
  };

  // ---- prefill ----------------------------------------------------------------------
  const Clock::time_point start = Clock::now();
  std::vector<Tensor> caches = model.make_caches(batch, cache_length);
  const std::int64_t chunk = options.prefill_chunk > 0 ? options.prefill_chunk : length;
  Tensor logits;
  for (std::int64_t begin = 0; begin < length; begin += chunk) {
    const std::int64_t end = std::min(length, begin + chunk), width = end - begin;
    std::vector<std::int32_t> tokens(static_cast<std::size_t>(batch * width), 0);
    std::vector<std::int32_t> positions(tokens.size(), 0);
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(batch * cache_length), 0);
    for (std::int64_t r = 0; r < batch; ++r) {
      for (std::int64_t j = begin; j < end; ++j) {
        const std::int64_t i = r * width + (j - begin);
        if (j >= pad[r]) {
          tokens[i] = prompts[r][j - pad[r]];
          positions[i] = static_cast<std::int32_t>(j - pad[r]);
        }
      }
      for (std::int64_t j = pad[r]; j < end; ++j) mask[r * cache_length + j] = 1;
    }
    models::StepInputs in;
    in.tokens = s32_tensor(tokens, {batch, width}, device);
    in.positions = s32_tensor(positions, {batch, width}, device);
    in.write_offset = s32_tensor({static_cast<std::int32_t>(begin)}, {}, device);
    in.key_mask = bool_tensor(mask, {batch, cache_length}, device);
    in.caches = std::move(caches);
    models::StepResult out = model.step(in, /*last_only=*/true);
    caches = std::move(out.caches);
    logits = out.logits;
  }
  if (logits.ndim() != 3 || logits.shape(0) != batch || logits.shape(-1) != vocab)
    EMILY_THROW(ShapeError, op, "the model returned logits of shape ", to_string(logits.shape()),
                ", expected {", batch, ", 1, ", vocab, "}");
  logits = reshape(slice(logits, {0, logits.shape(1) - 1, 0}, {batch, logits.shape(1), vocab}),
                   {batch, vocab});

  std::vector<std::uint8_t> seen_host(static_cast<std::size_t>(batch * vocab), 0);
  if (options.sampling.repetition_penalty != 1.0)
    for (std::int64_t r = 0; r < batch; ++r)
      for (std::int32_t id : prompts[r]) seen_host[r * vocab + id] = 1;
  const Tensor vocab_ids = arange(0, static_cast<double>(vocab), 1, DType::s32, device);
  const Tensor slots = arange(0, static_cast<double>(cache_length), 1, DType::s32, device);
  Sampled first =
      sample_next(logits, to_device(random::key(options.sampling.seed), device),
                  bool_tensor(seen_host, {batch, vocab}, device), vocab_ids, options.sampling);
  bool live = accept(first.next.to_vector<std::int32_t>());
  stats.prefill_seconds = seconds_since(start);

  // ---- decode -----------------------------------------------------------------------
  const Clock::time_point decode_start = Clock::now();
  if (live) {
    const int n_caches = static_cast<int>(caches.size());
    if (!step_ || step_->batch != batch || step_->cache_length != cache_length ||
        !(step_->sampling == trace_key(options.sampling))) {
      const models::CausalLM* m = model_;
      SamplingOptions sampling = options.sampling;
      TensorFunction fn = [m, sampling, batch, vocab](const std::vector<Tensor>& in) {
        // The slot this token is written to joins the mask before the model reads it.
        Tensor mask = logical_or(in[kKeyMask], equal(in[kSlots], in[kOffset]));
        models::StepInputs step_in{in[kTokens], in[kPositions], in[kOffset], mask,
                                   std::vector<Tensor>(in.begin() + kCaches, in.end())};
        models::StepResult out = m->step(step_in, /*last_only=*/true);
        Tensor step_logits = reshape(out.logits, {batch, vocab});
        Sampled s = sample_next(step_logits, in[kKey], in[kSeen], in[kVocabIds], sampling);
        std::vector<Tensor> results{reshape(s.next, {batch, 1}),
                                    in[kPositions] + 1.0,
                                    in[kOffset] + 1.0,
                                    mask,
                                    s.key,
                                    s.seen};
        results.insert(results.end(), out.caches.begin(), out.caches.end());
        return results;
      };
      CompileOptions co;
      co.mode = options_.mode;
      co.name = "decode_step";
      co.donate = {kKeyMask, kSeen};
      for (int i = 0; i < n_caches; ++i) co.donate.push_back(kCaches + i);
      step_ = std::make_unique<Step>(
          Step{compile(std::move(fn), co), trace_key(options.sampling), batch, cache_length});
    }

    std::vector<std::int32_t> positions(static_cast<std::size_t>(batch));
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(batch * cache_length), 0);
    for (std::int64_t r = 0; r < batch; ++r) {
      positions[r] = static_cast<std::int32_t>(length - pad[r]);
      for (std::int64_t j = pad[r]; j < length; ++j) mask[r * cache_length + j] = 1;
    }
    std::vector<Tensor> state{reshape(first.next, {batch, 1}),
                              s32_tensor(positions, {batch, 1}, device),
                              s32_tensor({static_cast<std::int32_t>(length)}, {}, device),
                              bool_tensor(mask, {batch, cache_length}, device),
                              first.key,
                              first.seen,
                              slots,
                              vocab_ids};
    state.insert(state.end(), std::make_move_iterator(caches.begin()),
                 std::make_move_iterator(caches.end()));
    caches.clear();
    const std::int64_t before = stats.generated_tokens;
    // Step t makes token t + 1 (the prefill made token 1); steps run while a row is live,
    // up to token max_tokens.
    auto run_step = [&] {
      std::vector<Tensor> out = step_->fn(state);
      // The inputs given up to donation are dropped here and never read again.
      for (int i = 0; i < kCarried; ++i) state[i] = std::move(out[i]);
      for (int i = 0; i < n_caches; ++i) state[kCaches + i] = std::move(out[kCarried + i]);
    };
    const bool ahead = options_.queue_ahead && device.type != Device::Type::cpu;
    std::int64_t t = 1;
    bool queued = false;
    if (t < max_tokens) {
      run_step();
      queued = true;
    }
    while (queued) {
      HostRead token = begin_host_read(state[kTokens]);  // step t's
      const bool more = t + 1 < max_tokens;
      if (ahead && more) run_step();  // step t + 1, before the host waits for step t
      live = accept(token.get().to_vector<std::int32_t>());
      ++t;
      queued = live && more;
      if (queued && !ahead) run_step();
    }
    stats.decode_tokens = stats.generated_tokens - before;
  }
  stats.decode_seconds = seconds_since(decode_start);

  for (Row& row : rows) {
    if (row.stream) row.out.text = row.stream->text();
    result.rows.push_back(std::move(row.out));
  }
  return result;
}

}  // namespace emily
