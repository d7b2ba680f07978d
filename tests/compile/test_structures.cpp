// Trees of tensors as compiled functions' arguments and results, and donated inputs.
// Oracles: the same function run eagerly (bitwise, native mode), allocator statistics and
// buffer identity for donation, and hand-written structures for Tree itself.
#include "emily/compile.h"
#include "emily/telemetry.h"
#include "support/testing.h"

namespace emily {
namespace {

using testing::all_equal;

using testing::native;

TEST(Tree, FlattensDepthFirstWithFieldsByName) {
  Tensor a = scalar_tensor(1.0), b = scalar_tensor(2.0), c = scalar_tensor(3.0);
  Tree t(std::map<std::string, Tree>{{"z", a}, {"cache", Tree(std::vector<Tensor>{b, c})}});
  EXPECT_EQ(t.structure(), "{cache: [*, *], z: *}");
  std::vector<Tensor> leaves = t.leaves();
  ASSERT_EQ(leaves.size(), 3u);
  EXPECT_EQ(leaves[0].item<float>(), 2.0f);
  EXPECT_EQ(leaves[2].item<float>(), 1.0f);
  EXPECT_EQ(t["cache"][1].tensor().item<float>(), 3.0f);
  Tree back = Tree::unflatten(t, std::vector<Tensor>{c, b, a});
  EXPECT_EQ(back["z"].tensor().item<float>(), 1.0f);
  EXPECT_EQ(back["cache"][0].tensor().item<float>(), 3.0f);
  EXPECT_EQ(back.structure(), t.structure());
}

TEST(Tree, BadAccessRaisesValueError) {
  Tree t(std::map<std::string, Tensor>{{"w", scalar_tensor(1.0)}});
  EXPECT_EMILY_ERROR(t["missing"], ValueError, "tree");
  EXPECT_EMILY_ERROR(t[0], ValueError, "tree");
  EXPECT_EMILY_ERROR(t.tensor(), ValueError, "tree");
  EXPECT_EMILY_ERROR(t["w"]["x"], ValueError, "tree");
  EXPECT_EMILY_ERROR(Tree(std::vector<Tensor>{})[0], ValueError, "tree");
  EXPECT_EMILY_ERROR(Tree(Tensor()), ValueError, "tree");
  EXPECT_EMILY_ERROR(Tree::unflatten(t, std::vector<Tensor>{}), ValueError, "tree");
}

// A decode-shaped step: parameters and a KV cache as maps, the state as one tree.
Tree step(const Tree& args) {
  const Tree& params = args["params"];
  const Tree& cache = args["cache"];
  Tensor x = args["x"].tensor();
  Tensor h = tanh(matmul(x, params["w"].tensor()) + params["b"].tensor());
  Tensor k = concatenate({slice(cache["k"].tensor(), {1, 0}, {4, 3}), h}, 0);
  return Tree(std::map<std::string, Tree>{
      {"y", h}, {"cache", Tree(std::map<std::string, Tensor>{{"k", k}})}});
}

Tree step_args(const Tensor& x, const Tensor& k) {
  return Tree(std::map<std::string, Tree>{
      {"params", Tree(std::map<std::string, Tensor>{{"w", testing::iota({3, 3}) * 0.1},
                                                    {"b", scalar_tensor(0.5)}})},
      {"cache", Tree(std::map<std::string, Tensor>{{"k", k}})},
      {"x", x}});
}

TEST(CompileTree, NestedArgumentsAndResultsReplay) {
  auto f = compile(TreeFunction(step), native("step"));
  Tensor k = testing::iota({4, 3});
  Tensor x = random::normal(random::key(1), {1, 3});
  for (int call = 0; call < 3; ++call) {
    Tree got = f(step_args(x, k));
    Tree want = step(step_args(x, k));
    EXPECT_EQ(got.structure(), "{cache: {k: *}, y: *}");
    EXPECT_TRUE(all_equal(got["y"].tensor(), want["y"].tensor()));
    EXPECT_TRUE(all_equal(got["cache"]["k"].tensor(), want["cache"]["k"].tensor()));
    k = got["cache"]["k"].tensor();
  }
  EXPECT_EQ(f.cached_signatures(), 1u);
  EXPECT_NE(f.dump(step_args(x, k)).find("matmul"), std::string::npos);
}

TEST(CompileTree, StructureIsPartOfTheSignature) {
  // Same leaves, different names: the function reads them differently, so a replay of
  // the first plan would be wrong. Oracle: eager results; retraces counted by telemetry.
  int misses = 0;
  auto id = telemetry::attach("emily.compile.miss", [&](const telemetry::Event&) { ++misses; });
  auto fn = [](const Tree& t) -> Tree {
    if (t.names()[0] == "a") return Tree(t["a"].tensor() - t[t.names()[1]].tensor());
    return Tree(std::vector<Tensor>{t[t.names()[0]].tensor() * 2.0});
  };
  auto f = compile(TreeFunction(fn), native("names"));
  Tensor p = testing::iota({2}), q = testing::iota({2}) + 5.0;
  Tree ab(std::map<std::string, Tensor>{{"a", p}, {"b", q}});
  Tree cd(std::map<std::string, Tensor>{{"c", p}, {"d", q}});
  EXPECT_TRUE(all_equal(f(ab).tensor(), p - q));
  EXPECT_TRUE(all_equal(f(cd)[0].tensor(), p * 2.0));
  EXPECT_TRUE(all_equal(f(ab).tensor(), p - q));       // replayed, leaf result
  EXPECT_TRUE(all_equal(f(cd)[0].tensor(), p * 2.0));  // replayed, list result
  telemetry::detach(id);
  EXPECT_EQ(misses, 2);
  EXPECT_EQ(f.cached_signatures(), 2u);
}

TEST(CompileTelemetry, FirstCallSpansTracePassesAndPlan) {
  // Oracle: the span events themselves; a replay emits none of them.
  std::map<std::string, int> starts;
  auto id = telemetry::attach("emily.compile.", [&](const telemetry::Event& e) {
    if (e.name.ends_with(".start")) ++starts[e.name];
  });
  auto f = compile([](const std::vector<Tensor>& in) { return std::vector<Tensor>{in[0] + 1.0}; },
                   native("spans"));
  f({testing::iota({3})});
  EXPECT_EQ(starts["emily.compile.trace.start"], 1);
  EXPECT_EQ(starts["emily.compile.passes.start"], 1);
  EXPECT_EQ(starts["emily.compile.plan.start"], 1);
  starts.clear();
  f({testing::iota({3})});
  EXPECT_TRUE(starts.empty());
  telemetry::detach(id);
}

TEST(Donation, ResultReusesTheDonatedBuffer) {
  // Oracle: buffer identity and allocator statistics; values against eager.
#ifdef EMILY_DEBUG_NAN_INF
  GTEST_SKIP() << "debug NaN/Inf builds replay through the dispatcher (where the check "
                  "lives), which allocates every result: no donation there";
#endif
  auto fn = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{exp(in[0] * 0.5) * 2.0};
  };
  CompileOptions o = native("donate");
  o.donate = {0};
  auto f = compile(fn, o);
  f({random::normal(random::key(2), {256, 256})});  // trace
  f({random::normal(random::key(2), {256, 256})});  // first replay: builds the workspace
  Tensor x = random::normal(random::key(3), {256, 256});
  Tensor want = fn({x})[0];
  const std::size_t before = memory_info().active;
  const Buffer* donated = x.buffer().get();
  Tensor got = f({x})[0];
  EXPECT_EQ(got.buffer().get(), donated);
  EXPECT_EQ(memory_info().active, before);  // no new buffer outlives the call
  EXPECT_TRUE(all_equal(got, want));
}

TEST(Donation, NotTakenWhenTheResultNeedsTheInputWhileWritten) {
  // y = x * 2 reads x in the very node that writes y; x returned as is cannot be reused.
  auto fn = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{in[0] * 2.0, in[1], in[1] + 1.0};
  };
  CompileOptions o = native("no_donate");
  o.donate = {0, 1};
  auto f = compile(fn, o);
  Tensor x = testing::iota({8}), y = testing::iota({8}) + 1.0;
  auto out = f({x, y});
  out = f({x, y});
  EXPECT_NE(out[0].buffer(), x.buffer());
  EXPECT_NE(out[2].buffer(), y.buffer());
  EXPECT_TRUE(all_equal(out[0], testing::iota({8}) * 2.0));
  EXPECT_TRUE(all_equal(out[2], testing::iota({8}) + 2.0));
}

// A KV-cache write: the new rows land in the cache at a slot given as a tensor, and the
// step reads the updated cache. Inputs: cache {2, 8, 4}, slot {1} (s32), rows {2, 1, 4}.
std::vector<Tensor> cache_write(const std::vector<Tensor>& in) {
  Tensor cache = scatter(in[0], in[1], in[2], {1});
  return {cache, sum(cache, {1}), in[1] + 1.0};
}

TEST(Donation, ScatterUpdatesTheDonatedCacheInPlace) {
  // Oracle: the same loop run eagerly (bitwise); buffer identity shows the update ran in
  // place (the scatter is the cache's last reader, so it may write over it).
#ifdef EMILY_DEBUG_NAN_INF
  GTEST_SKIP() << "debug NaN/Inf builds replay through the dispatcher: no donation there";
#endif
#ifdef EMILY_DEBUG_BOUNDS_CHECK
  GTEST_SKIP() << "bounds-checked builds read scatter indices on the host: the function "
                  "runs eagerly there";
#endif
  CompileOptions o = native("cache_write");
  o.donate = {0};
  auto f = compile(cache_write, o);
  std::vector<Tensor> eager = {random::normal(random::key(5), {2, 8, 4}), tensor<std::int32_t>({0}),
                               Tensor()};
  std::vector<Tensor> state = {to_host(eager[0]) + 0.0, eager[1], Tensor()};
  const Buffer* cache = nullptr;
  for (int step = 0; step < 8; ++step) {
    Tensor rows = random::normal(random::key(10 + step), {2, 1, 4});
    eager[2] = rows;
    state[2] = rows;
    std::vector<Tensor> want = cache_write(eager);
    std::vector<Tensor> got = f(state);
    for (std::size_t k = 0; k < got.size(); ++k)
      ASSERT_TRUE(all_equal(got[k], want[k])) << "step " << step << " result " << k;
    if (step >= 1) {  // from the first replay on (step 0 traces)
      EXPECT_EQ(got[0].buffer().get(), state[0].buffer().get()) << "step " << step;
    }
    if (step == 1) cache = got[0].buffer().get();
    if (step > 1) EXPECT_EQ(got[0].buffer().get(), cache) << "step " << step;
    eager = {want[0], want[2], Tensor()};
    state = {got[0], got[2], Tensor()};
  }
}

TEST(Donation, SliceUpdateUpdatesTheDonatedInputInPlace) {
  // Oracle: eager (bitwise) and buffer identity, as above.
#ifdef EMILY_DEBUG_NAN_INF
  GTEST_SKIP() << "debug NaN/Inf builds replay through the dispatcher: no donation there";
#endif
  auto fn = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{slice_update(in[0], in[1] * 2.0, {1, 0}, {3, 4})};
  };
  CompileOptions o = native("slice_update_in_place");
  o.donate = {0};
  auto f = compile(fn, o);
  f({testing::iota({4, 4}), testing::iota({2, 4})});  // trace
  Tensor x = testing::iota({4, 4}), u = testing::iota({2, 4}) + 7.0;
  Tensor want = fn({testing::iota({4, 4}), u})[0];
  const Buffer* donated = x.buffer().get();
  Tensor got = f({x, u})[0];
  EXPECT_EQ(got.buffer().get(), donated);
  EXPECT_TRUE(all_equal(got, want));
}

TEST(Donation, NoUpdateInPlaceWhileALaterNodeReadsTheInput) {
  // The sum reads the cache after the scatter: writing the scatter over the cache would
  // change what the sum sees. Oracle: eager (bitwise).
  auto fn = [](const std::vector<Tensor>& in) {
    Tensor cache = scatter(in[0], in[1], in[2], {1});
    return std::vector<Tensor>{cache, sum(in[0], {1})};
  };
  CompileOptions o = native("late_reader");
  o.donate = {0};
  auto f = compile(fn, o);
  auto inputs = [](int seed) {
    return std::vector<Tensor>{random::normal(random::key(seed), {2, 8, 4}),
                               tensor<std::int32_t>({3}),
                               random::normal(random::key(seed + 1), {2, 1, 4})};
  };
  for (int call = 0; call < 3; ++call) {
    std::vector<Tensor> want = fn(inputs(20 + call));
    std::vector<Tensor> got = f(inputs(20 + call));
    EXPECT_TRUE(all_equal(got[0], want[0])) << "call " << call;
    EXPECT_TRUE(all_equal(got[1], want[1])) << "call " << call;
  }
}

TEST(Donation, BadIndexRaises) {
  CompileOptions o = native("bad");
  o.donate = {3};
  auto f =
      compile([](const std::vector<Tensor>& in) { return std::vector<Tensor>{in[0] + 1.0}; }, o);
  EXPECT_EMILY_ERROR(f({testing::iota({2})}), ValueError, "compile");
}

}  // namespace
}  // namespace emily
