// The decode loop on the GPU. With queue_ahead (the default) each step is queued before
// the host reads the token of the step before it. Oracle: the same generation with
// queue_ahead off, token for token (the same kernels run in the same order, so the
// tokens are exact), over the toy model of tests/generate made on the GPU. Skips without
// a GPU.
#include "generate/toy_model.h"
#include "support/gpu.h"
#include "support/testing.h"

namespace emily {
namespace {

using testing::ToyLM;
using Prompts = std::vector<std::vector<std::int32_t>>;

class CudaGenerate : public testing::GpuTest {};

GenerateOptions greedy(std::int64_t max_tokens) {
  GenerateOptions o;
  o.max_tokens = max_tokens;
  o.sampling.temperature = 0;
  return o;
}

TEST_F(CudaGenerate, QueuedStepsGiveTheTokensOfWaitingSteps) {
  StreamGuard guard(default_stream(gpu));
  ToyLM model;
  ASSERT_EQ(model.device(), gpu);
  const Prompts prompts = {{1, 2, 3}, {7, 8}};
  for (CompileMode mode : {CompileMode::eager, CompileMode::native}) {
    const std::string what =
        std::string("mode ") + (mode == CompileMode::eager ? "eager" : "native");
    Generator ahead(model, {.tokenizer = std::nullopt, .mode = mode});
    Generator waiting(model, {.tokenizer = std::nullopt, .mode = mode, .queue_ahead = false});
    // Up to max_tokens: every queued step is used.
    model.steps_ = 0;
    const GenerateResult free_run = waiting.generate(prompts, greedy(10));
    const int waited = model.steps_;
    model.steps_ = 0;
    const GenerateResult queued = ahead.generate(prompts, greedy(10));
    for (std::size_t r = 0; r < prompts.size(); ++r)
      EXPECT_EQ(queued.rows[r].tokens, free_run.rows[r].tokens) << what << ", row " << r;
    if (mode == CompileMode::eager) EXPECT_EQ(model.steps_, waited) << what;
    // Both rows stop early on an eos id: the tokens are the same, and the queued loop
    // has run one step more (eager runs count each step; the one after the last token is
    // the step run in vain).
    GenerateOptions o = greedy(10);
    o.eos_ids = {free_run.rows[0].tokens[3], free_run.rows[1].tokens[2]};
    model.steps_ = 0;
    const GenerateResult want = waiting.generate(prompts, o);
    const int waited_eos = model.steps_;
    model.steps_ = 0;
    const GenerateResult got = ahead.generate(prompts, o);
    for (std::size_t r = 0; r < prompts.size(); ++r) {
      EXPECT_EQ(got.rows[r].tokens, want.rows[r].tokens) << what << ", eos, row " << r;
      EXPECT_EQ(got.rows[r].finish, FinishReason::eos) << what << ", row " << r;
      EXPECT_EQ(want.rows[r].finish, FinishReason::eos) << what << ", row " << r;
    }
    if (mode == CompileMode::eager) EXPECT_EQ(model.steps_, waited_eos + 1) << what;
  }
}

}  // namespace
}  // namespace emily
