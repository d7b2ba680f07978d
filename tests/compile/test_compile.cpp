// compile(): native replay against eager execution.
// Oracle: the same function run eagerly on the same inputs. Native replay runs the same
// kernels on the same layouts, so every comparison is bitwise (all_equal), never a
// tolerance.
#include <map>
#include <set>

#include "emily/compile.h"
#include "emily/fast.h"
#include "emily/fft.h"
#include "emily/linalg.h"
#include "emily/telemetry.h"
#include "ir/graph.h"
#include "support/testing.h"

namespace emily {
namespace {

using testing::all_equal;

using testing::native;

// Counts telemetry events by name while alive.
struct EventCounter {
  std::map<std::string, int> counts;
  std::vector<std::string> reasons;
  telemetry::HandlerId id;
  EventCounter() {
    id = telemetry::attach("emily.comp", [this](const telemetry::Event& e) {
      ++counts[e.name];
      if (const std::string* r = e.find("reason")) reasons.push_back(*r);
    });
  }
  ~EventCounter() { telemetry::detach(id); }
};

// A function touching many op families, views included.
std::vector<Tensor> block(const std::vector<Tensor>& in) {
  const Tensor &x = in[0], &w = in[1];
  Tensor h = matmul(x, transpose(w));
  Tensor a = softmax(h, -1) + gelu(h) * 0.5;
  Tensor s = sum(a, 0, true);
  Tensor c = concatenate({a, s}, 0);
  Tensor m = where(greater(c, scalar_like(c, 0.1)), c, exp(-c));
  return {m, cumulative_sum(m, 1), sort(m, 0), argmax(m, 1)};
}

TEST(Compile, NativeReplayIsBitIdenticalToEager) {
  auto f = compile(block, native("block"));
  Tensor w = random::normal(random::key(1), {5, 4});
  for (int call = 0; call < 3; ++call) {
    // New values every call (same signature): a replay must recompute, not remember.
    Tensor x = random::normal(random::key(10 + call), {3, 4});
    auto got = f({x, w});
    auto want = block({x, w});
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t k = 0; k < got.size(); ++k) EXPECT_TRUE(all_equal(got[k], want[k])) << k;
  }
  EXPECT_EQ(f.cached_signatures(), 1u);
}

TEST(Compile, EveryPrimitiveFamilyReplays) {
  // Oracle: eager results on the same inputs; coverage: every non-view primitive of the
  // table must appear in some traced graph below (observed through emily.eval events).
  Tensor x = random::normal(random::key(2), {4, 6});
  Tensor y = random::uniform(random::key(3), {4, 6}, DType::f32, 0.5, 2.0);
  Tensor i32 = astype(x * 10.0, DType::s32);
  Tensor sq = matmul(y, transpose(y)) + eye(4) * 4.0;  // SPD
  using Fn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;
  std::vector<std::pair<std::string, Fn>> cases;
  auto unary = {abs,    acos, acosh, asin,        asinh,  atan,  atanh, ceil,  conjugate,
                cos,    cosh, erf,   erf_inv,     exp,    expm1, floor, imag,  is_infinity,
                is_nan, log,  log1p, logical_not, negate, real,  round, rsqrt, sigmoid,
                sign,   sin,  sinh,  sqrt,        tan,    tanh};
  int k = 0;
  for (auto u : unary) {
    cases.push_back({"unary" + std::to_string(k++), [u](const std::vector<Tensor>& in) {
                       return std::vector<Tensor>{u(in[0] * 0.3)};
                     }});
  }
  auto binary = {add,           subtract, multiply,   divide,      pow,        atan2,
                 remainder,     maximum,  minimum,    equal,       not_equal,  greater,
                 greater_equal, less,     less_equal, logical_and, logical_or, logical_xor};
  for (auto b : binary) {
    cases.push_back({"binary" + std::to_string(k++), [b](const std::vector<Tensor>& in) {
                       return std::vector<Tensor>{b(in[0], in[1])};
                     }});
  }
  auto int_binary = {quotient, bitwise_and, bitwise_or, bitwise_xor, left_shift, right_shift};
  for (auto b : int_binary) {
    cases.push_back({"int" + std::to_string(k++), [b](const std::vector<Tensor>& in) {
                       Tensor a = in[2], s = clip(abs(in[2]), 1.0, 3.0);
                       return std::vector<Tensor>{b(a, s)};
                     }});
  }
  cases.push_back({"misc", [](const std::vector<Tensor>& in) {
                     const Tensor &a = in[0], &b = in[1];
                     return std::vector<Tensor>{bitwise_not(in[2]),
                                                astype(a, DType::bf16),
                                                full({2, 2}, 3.0),
                                                arange(0.0, 5.0, 1.0),
                                                eye(3),
                                                product(b, 0),
                                                max(a, 1),
                                                min(a, 0),
                                                all(greater(b, scalar_like(b, 0.0))),
                                                any(less(a, scalar_like(a, 0.0))),
                                                argmin(a, 0),
                                                pad(a, {{1, 0, 1}, {0, -1, 0}}),
                                                slice_update(a, ones({1, 6}), {0, 0}, {1, 6}),
                                                take(a, tensor<std::int32_t>({2, 0}), 1),
                                                take_along_axis(a, argsort(a, 1), 1),
                                                tensordot(a, b, {1}, {1}),
                                                random::bits(random::key(5), {3}),
                                                contiguous(transpose(a)),
                                                conjugate(astype(a, DType::c64)),
                                                real(astype(a, DType::c64)),
                                                where(greater(a, b), a, b),
                                                sum(a, 1),
                                                argmax(a, 0),
                                                concatenate({a, b}, 1),
                                                cumulative_sum(a, 0),
                                                sort(a, 0)};
                   }});
  cases.push_back({"catalogue", [](const std::vector<Tensor>& in) {
                     const Tensor &a = in[0], &spd = in[3];
                     Tensor idx = tensor<std::int32_t>({1, 3, 0}, {3, 1});
                     auto [tv, ti] = top_k(a, 2);
                     Tensor img = reshape(a, {1, 1, 4, 6});
                     Tensor kern = ones({2, 1, 2, 2});
                     return std::vector<Tensor>{
                         gather(a, idx, {0}, {1, 6}),
                         scatter(a, idx, ones({3, 6}), {0}),
                         scatter_add(a, idx, ones({3, 6}), {0}),
                         scatter_max(a, idx, ones({3, 6}), {0}),
                         scatter_min(a, idx, ones({3, 6}), {0}),
                         cumulative_product(a, 1),
                         cumulative_max(a, 0),
                         cumulative_min(a, 1, true),
                         tv,
                         ti,
                         conv_general(img, kern),
                         window_sum(a, {2, 2}),
                         window_max(a, {2, 3}),
                         window_min(a, {1, 2}),
                         window_product(a, {2, 1}),
                         window_scatter_max(a, ones({3, 5}), scalar_tensor(0.0), {2, 2}),
                         window_scatter_min(a, ones({3, 5}), scalar_tensor(0.0), {2, 2}),
                         fft(a),
                         ifft(a),
                         rfft(a),
                         irfft(rfft(a)),
                         linalg::cholesky(spd),
                         linalg::eigh(spd).first,
                         linalg::inv(spd),
                         std::get<0>(linalg::lu(spd)),
                         linalg::pinv(a),
                         linalg::qr(spd).second,
                         linalg::solve(spd, a),
                         linalg::solve_triangular(linalg::cholesky(spd), a),
                         std::get<1>(linalg::svd(a)),
                         tri_inv(linalg::cholesky(spd))};
                   }});
  cases.push_back(
      {"fast", [](const std::vector<Tensor>& in) {
         const Tensor &a = in[0], &b = in[1];
         Tensor w = slice(b, {0, 0}, {1, 6});
         Tensor q = reshape(a, {1, 2, 2, 6}), kv = reshape(b, {1, 1, 4, 6});
         Tensor positions = reshape(arange(2, DType::s32, a.device()), {1, 2});
         auto [qr, kr] =
             fast::rms_norm_rope_positions(q, reshape(w, {6}), reshape(b, {1, 2, 2, 6}),
                                           reshape(w, {6}), 1e-6, 4, false, 1e4, 1.0, positions);
         return std::vector<Tensor>{qr,
                                    kr,
                                    fast::rms_norm(a, reshape(w, {6}), 1e-5),
                                    fast::layer_norm(a, std::nullopt, std::nullopt, 1e-5),
                                    fast::swiglu(a, b),
                                    fast::linear_swiglu(a, b),
                                    fast::rope(q, 4, false, 10000.0, 1.0, 1),
                                    fast::sdpa_causal(q, kv, kv, 0.4)};
       }});
  // Quantized weights are captures; the activations are traced.
  const QuantizedTensor qw = quantize(reshape(concatenate({y, y, y, y}, -1), {3, 32}), 32, 4);
  cases.push_back({"quant", [qw](const std::vector<Tensor>& in) {
                     Tensor a = concatenate({in[0], in[0], in[0]}, -1);
                     Tensor xs = reshape(slice(a, {0, 0}, {4, 16}), {2, 32});
                     return std::vector<Tensor>{
                         dequantize(qw), quantized_matmul(xs, qw),
                         quantized_matmul(slice(xs, {0, 0}, {2, 3}), qw, false)};
                   }});
  std::set<std::string> seen;
  auto id = telemetry::attach("emily.eval.start", [&](const telemetry::Event& e) {
    if (const std::string* op = e.find("op")) seen.insert(*op);
  });
  const std::vector<Tensor> inputs = {x, y, i32, sq};
  // fuse mode: the same cases with elementwise chains fused; within 4 ULP of eager for
  // f32 (the bound), bitwise for every other dtype.
  for (CompileMode mode : {CompileMode::native, CompileMode::fuse}) {
    for (const auto& [name, fn] : cases) {
      CompileOptions o = native(name);
      o.mode = mode;
      auto f = compile(fn, o);
      f(inputs);             // trace
      auto got = f(inputs);  // replay
      auto want = fn(inputs);
      ASSERT_EQ(got.size(), want.size()) << name;
      for (std::size_t j = 0; j < got.size(); ++j) {
        if (mode == CompileMode::native)
          EXPECT_TRUE(all_equal(got[j], want[j])) << name << " result " << j;
        else
          EXPECT_TRUE(testing::within_ulps(got[j], want[j], 4)) << name << " fused, result " << j;
      }
    }
  }
  telemetry::detach(id);
  for (std::size_t p = 0; p < kNumPrimitives; ++p) {
    auto prim = static_cast<Primitive>(p);
    if (info(prim).family == Family::view || info(prim).family == Family::control) continue;
#ifdef EMILY_DEBUG_BOUNDS_CHECK
    (void)prim;
#else
    EXPECT_TRUE(seen.count(std::string(name(prim)))) << name(prim) << " never ran";
#endif
  }
}

TEST(Compile, SharedSubexpressionsAndDeadCodeAreRemoved) {
  auto fn = [](const std::vector<Tensor>& in) {
    Tensor unused = log(in[0]);  // dead
    (void)unused;
    return std::vector<Tensor>{exp(in[0]) + exp(in[0])};
  };
  auto f = compile(fn, native("cse"));
  Tensor x = testing::iota({2, 3});
  EXPECT_EQ(f.dump({x}),
            "graph cse(in0: f32(2, 3))\n"
            "  %0 = exp(in0) : f32(2, 3)\n"
            "  %1 = add(%0, %0) : f32(2, 3)\n"
            "  return %1\n");
  EXPECT_TRUE(all_equal(f({x})[0], fn({x})[0]));
}

TEST(Compile, WorkOnCapturesAloneIsFoldedAtPlanTime) {
  // Oracle: eager results (bitwise: folding runs the same kernels once, at plan time).
  Tensor w = testing::iota({3, 2});
  auto fn = [w](const std::vector<Tensor>& in) {
    Tensor scaled = contiguous(transpose(w)) * 2.0 + arange(3, DType::f32);
    return std::vector<Tensor>{matmul(in[0], transpose(scaled))};
  };
  auto f = compile(fn, native("fold"));
  Tensor x = testing::iota({4, 3});
  std::string d = f.dump({x});
  EXPECT_NE(d.find("  %0 = matmul(in0, c"), std::string::npos) << d;
  EXPECT_EQ(d.find("%1"), std::string::npos) << d;  // the one node left
  EXPECT_TRUE(all_equal(f({x})[0], fn({x})[0]));
  EXPECT_TRUE(all_equal(f({x + 1.0})[0], fn({x + 1.0})[0]));
}

TEST(Compile, DumpShowsViewsAndCaptures) {
  Tensor w = testing::iota({3});
  auto f = compile(
      [w](const std::vector<Tensor>& in) { return std::vector<Tensor>{transpose(in[0]) + w}; },
      native("views"));
  std::string d = f.dump({testing::iota({3, 2})});
  EXPECT_NE(d.find("c0: capture, 12 bytes"), std::string::npos) << d;
  // The transpose and the broadcast of the capture are layouts on the operands, not nodes.
  EXPECT_NE(d.find("add(in0[f32(2, 3) strides(1, 2)], c0[f32(2, 3) strides(0, 1)])"),
            std::string::npos)
      << d;
}

TEST(Compile, CapturesCrossOnceWithoutCopies) {
  // Oracle: allocator statistics. A replay allocates only its intermediates and result;
  // the 4 MiB weight is read in place, so active bytes grow by the result alone.
  Tensor w = random::normal(random::key(4), {1024, 1024});
  auto f =
      compile([w](const std::vector<Tensor>& in) { return std::vector<Tensor>{matmul(in[0], w)}; },
              native("capture"));
  Tensor x = random::normal(random::key(5), {2, 1024});
  f({x});
  const std::size_t before = memory_info().active;
  std::vector<Tensor> keep;
  for (int i = 0; i < 3; ++i) keep.push_back(f({x})[0]);
  EXPECT_EQ(memory_info().active - before, 3 * keep[0].nbytes());
  EXPECT_TRUE(all_equal(keep[2], matmul(x, w)));
  std::string d = f.dump({x});
  EXPECT_NE(d.find("c0: capture, f32(1024, 1024)\n  %0 = matmul(in0, c0)"), std::string::npos) << d;
}

TEST(Compile, IntermediatesShareLivenessPlannedBuffers) {
  // Oracle: allocator statistics. A chain of 20 ops on 1 MiB tensors has 19
  // intermediates, but at most two are alive at once, so the workspace the first replay
  // builds holds about two of them; later replays allocate only the result.
  auto chain = [](const std::vector<Tensor>& in) {
    Tensor x = in[0];
    for (int i = 0; i < 20; ++i) x = i % 2 ? exp(x * 0.5) : x + 1.0;
    return std::vector<Tensor>{x};
  };
  auto f = compile(chain, native("chain"));
  Tensor x = random::uniform(random::key(6), {512, 512});
  f({x});
  const std::size_t mib = 1 << 20;
  std::size_t before = memory_info().active;
  Tensor r1 = f({x})[0];
  EXPECT_LE(memory_info().active - before, 3 * mib + r1.nbytes());
  before = memory_info().active;
  Tensor r2 = f({x})[0];
  EXPECT_EQ(memory_info().active - before, r2.nbytes());
  EXPECT_TRUE(all_equal(r2, chain({x})[0]));
}

TEST(Compile, NewSignaturesRetraceAndHitsReplay) {
  EventCounter events;
  auto f = compile([](const std::vector<Tensor>& in) { return std::vector<Tensor>{in[0] * 2.0}; },
                   native("sig"));
  f({zeros({2})});
  f({ones({2})});
  f({zeros({3})});                // new shape
  f({zeros({2}, DType::f64)});    // new dtype
  f({transpose(zeros({2, 2}))});  // new layout
  f({ones({3})});
  EXPECT_EQ(events.counts["emily.compile.miss"], 4);
  EXPECT_EQ(events.counts["emily.compile.hit"], 2);
  EXPECT_EQ(events.counts["emily.compile.stop"], 4);  // one trace span per miss
  EXPECT_EQ(f.cached_signatures(), 4u);
  // Aliased inputs are a different signature from two separate buffers.
  Tensor a = ones({2});
  auto g = compile([](const std::vector<Tensor>& in) { return std::vector<Tensor>{in[0] + in[1]}; },
                   native("alias"));
  g({a, a});
  auto r = g({a, ones({2}) * 3.0});
  EXPECT_EQ(testing::floats(r[0]), (std::vector<float>{4, 4}));
}

std::vector<Tensor> data_dependent(const std::vector<Tensor>& in) {
  // The branch taken depends on a value: no single plan serves every input.
  return {sum(in[0]).item<float>() > 0 ? in[0] * 2.0 : in[0] * -1.0};
}

TEST(Compile, DataDependentFunctionsFallBackOrRaise) {
  EventCounter events;
  auto f = compile(data_dependent, native("branchy"));
  EXPECT_EQ(testing::floats(f({ones({2})})[0]), (std::vector<float>{2, 2}));
  // The fallback runs eagerly, so the other branch is taken for negative input.
  EXPECT_EQ(testing::floats(f({ones({2}) * -1.0})[0]), (std::vector<float>{1, 1}));
  EXPECT_EQ(events.counts["emily.compiler.fallback"], 1);
  ASSERT_EQ(events.reasons.size(), 1u);
  EXPECT_NE(events.reasons[0].find("data-dependent"), std::string::npos);
  EXPECT_EQ(f.dump({ones({2})}), "");

  CompileOptions raise = native("strict");
  raise.native_fallback = NativeFallback::raise;
  auto g = compile(data_dependent, raise);
  EXPECT_EMILY_ERROR(g({ones({2})}), Unsupported, "compile");
}

TEST(Compile, EagerModeRunsTheFunction) {
  CompileOptions o;
  o.mode = CompileMode::eager;
  int calls = 0;
  auto f = compile(
      [&](const std::vector<Tensor>& in) {
        ++calls;
        return std::vector<Tensor>{in[0] + 1.0};
      },
      o);
  f({zeros({1})});
  f({zeros({1})});
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(f.dump({zeros({1})}), "");
  // Native traces once, then replays without calling the function.
  calls = 0;
  auto g = compile(
      [&](const std::vector<Tensor>& in) {
        ++calls;
        return std::vector<Tensor>{in[0] + 1.0};
      },
      native());
  g({zeros({1})});
  g({zeros({1})});
  EXPECT_EQ(calls, 1);
}

TEST(Compile, ErrorsNameCompile) {
  EXPECT_EMILY_ERROR(parse_compile_mode("fast"), ValueError, "compile");
  EXPECT_EMILY_ERROR(compile(TensorFunction{}), ValueError, "compile");
  auto f =
      compile([](const std::vector<Tensor>&) { return std::vector<Tensor>{Tensor{}}; }, native());
  EXPECT_EMILY_ERROR(f({zeros({1})}), ValueError, "compile");
  EXPECT_EMILY_ERROR(f({Tensor{}}), ValueError, "compile");
}

// Newton's iteration for sqrt(a), elementwise, until every residual is small: the number
// of iterations depends on the data, so a replay must evaluate the loop condition.
std::vector<Tensor> newton_sqrt(const std::vector<Tensor>& in) {
  const Tensor a = in[0];
  auto cond = [a](const std::vector<Tensor>& s) {
    Tensor big = greater(abs(s[0] * s[0] - a), scalar_like(a, 1e-4));
    return std::vector<Tensor>{logical_and(any(big), less(s[1], scalar_like(s[1], 50)))};
  };
  auto body = [a](const std::vector<Tensor>& s) {
    return std::vector<Tensor>{(s[0] + a / s[0]) * 0.5, s[1] + 1.0};
  };
  return while_loop(cond, body, {ones_like(a), zeros({}, DType::s32)});
}

TEST(ControlFlow, WhileLoopReplaysLikeTheHostLoop) {
  // Oracle: the same while_loop run eagerly (the host loop), bitwise.
  auto f = compile(newton_sqrt, native("newton"));
  std::set<int> trips;
  for (double scale : {2.0, 100.0, 1e4, 0.01}) {
    Tensor a = testing::iota({5}) * scale + 1.0;
    auto got = f({a});
    auto want = newton_sqrt({a});
    EXPECT_TRUE(all_equal(got[0], want[0])) << scale;
    EXPECT_TRUE(all_equal(got[1], want[1])) << scale;
    EXPECT_TRUE(testing::all_close(got[0], sqrt(a), 1e-4, 0));  // and it is sqrt
    trips.insert(got[1].item<int>());
  }
  EXPECT_GT(trips.size(), 2u);           // the trip count really varied
  EXPECT_EQ(f.cached_signatures(), 1u);  // one plan, four different trip counts
  std::string d = f.dump({ones({5})});
  EXPECT_NE(d.find("= while_loop("), std::string::npos) << d;
  EXPECT_NE(d.find("    graph while_loop.body("), std::string::npos) << d;
}

TEST(ControlFlow, LoopTracedWithZeroTripsStillReplays) {
  // Traced on an input that needs no iteration, replayed on ones that need many.
  auto f = compile(newton_sqrt, native("newton0"));
  Tensor one = ones({3});
  EXPECT_TRUE(all_equal(f({one})[0], one));
  Tensor a = tensor<float>({4, 9, 16});
  EXPECT_TRUE(all_equal(f({a})[0], newton_sqrt({a})[0]));
}

TEST(ControlFlow, CondRunsOnlyTheSelectedBranchInReplays) {
  auto fn = [](const std::vector<Tensor>& in) {
    Tensor pred = greater(sum(in[0]), scalar_like(in[0], 0.0));
    return cond(
        pred, [](const std::vector<Tensor>& x) { return std::vector<Tensor>{exp(x[0])}; },
        [](const std::vector<Tensor>& x) { return std::vector<Tensor>{log1p(abs(x[0]))}; },
        {in[0]});
  };
  auto f = compile(fn, native("branch"));
  Tensor pos = testing::iota({4}), neg = testing::iota({4}) * -1.0;
  f({pos});  // trace (runs both branches once)
  std::set<std::string> seen;
  auto id = telemetry::attach("emily.eval.start", [&](const telemetry::Event& e) {
    if (const std::string* op = e.find("op")) seen.insert(*op);
  });
  auto got_pos = f({pos});
  EXPECT_TRUE(seen.count("exp") && !seen.count("log1p"));
  seen.clear();
  auto got_neg = f({neg});
  EXPECT_TRUE(seen.count("log1p") && !seen.count("exp"));
  telemetry::detach(id);
  EXPECT_TRUE(all_equal(got_pos[0], fn({pos})[0]));
  EXPECT_TRUE(all_equal(got_neg[0], fn({neg})[0]));
}

TEST(ControlFlow, Errors) {
  auto grow = [](const std::vector<Tensor>& s) {
    return std::vector<Tensor>{concatenate({s[0], s[0]})};
  };
  auto yes = [](const std::vector<Tensor>&) { return std::vector<Tensor>{scalar_tensor(1.0)}; };
  auto vec = [](const std::vector<Tensor>&) { return std::vector<Tensor>{ones({2})}; };
  EXPECT_EMILY_ERROR(while_loop(yes, grow, {ones({1})}), ShapeError, "while_loop");
  EXPECT_EMILY_ERROR(while_loop(vec, grow, {ones({1})}), ValueError, "while_loop");
  auto same = [](const std::vector<Tensor>& x) { return x; };
  auto other = [](const std::vector<Tensor>& x) {
    return std::vector<Tensor>{astype(x[0], DType::f64)};
  };
  auto traced_cond = [&](const std::vector<Tensor>& in) {
    return cond(scalar_tensor(1.0), same, other, in);
  };
  EXPECT_EMILY_ERROR(compile(traced_cond, native())({ones({2})}), ShapeError, "cond");
  EXPECT_EMILY_ERROR(cond(ones({2}), same, same, {ones({1})}), ValueError, "cond");
  // Eagerly, cond runs the selected branch only.
  EXPECT_EQ(testing::floats(cond(scalar_tensor(0.0), same, vec, {ones({1})})[0]),
            (std::vector<float>{1, 1}));
}

TEST(Compile, VerifierRejectsMalformedGraphs) {
  ir::Graph g;
  g.inputs.push_back({{ir::Source::Kind::input, 0, 0}, DType::f32, {2}, {1}, 0});
  ir::Node n{Primitive::exp,
             NoAttr{},
             {{{ir::Source::Kind::node, 0, 0}, DType::f32, {2}, {1}, 0}},
             {{DType::f32, {2}}}};
  g.nodes.push_back(n);  // reads itself
  EXPECT_EMILY_ERROR(ir::verify(g), Error, "compile");
  g.nodes[0].inputs[0].source = {ir::Source::Kind::input, 0, 0};
  ir::verify(g);
  g.results.push_back({{ir::Source::Kind::node, 0, 0}, DType::f32, {3}, {1}, 0});  // too long
  EXPECT_EMILY_ERROR(ir::verify(g), Error, "compile");
  g.results[0].shape = {2};
  g.nodes[0].attr = AxisAttr{0};
  EXPECT_EMILY_ERROR(ir::verify(g), Error, "compile");
}

}  // namespace
}  // namespace emily
