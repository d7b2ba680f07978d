// compile() in fuse mode: chains of elementwise primitives run as one fused kernel.
// Oracle: the same function run eagerly on the same inputs, within 4 ULP for f32 (the
// bound fuse mode promises) and bitwise for other dtypes; the IR dump shows what fused.
#include "emily/compile.h"
#include "support/testing.h"

namespace emily {
namespace {

using testing::within_ulps;

using testing::fuse;

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Eight elementwise ops reading a dense input, a broadcast row, a transposed input and
// a scalar: every way a fused kernel can read an operand.
std::vector<Tensor> chain(const std::vector<Tensor>& in) {
  const Tensor &x = in[0], &row = in[1], &t = in[2];
  Tensor h = x * 1.5 + row;
  h = tanh(h) - transpose(t);
  h = exp(-abs(h)) * sigmoid(x);
  return {sqrt(h + 1.0)};
}

TEST(Fuse, ElementwiseChainBecomesOneKernel) {
  for (Shape shape : {Shape{3, 5}, Shape{37, 1000}, Shape{300, 1001}}) {  // 1, many, threaded
    Tensor x = random::normal(random::key(1), shape);
    Tensor row = random::normal(random::key(2), {shape[1]});
    Tensor t = random::normal(random::key(3), {shape[1], shape[0]});
    auto f = compile(chain, fuse("chain"));
    const std::string d = f.dump({x, row, t});
    EXPECT_EQ(count(d, " = fused("), 1) << d;
    EXPECT_EQ(count(d, "\n  %"), 1) << d;  // nothing else is left
    for (int call = 0; call < 2; ++call) {
      Tensor xs = x * static_cast<double>(call + 1);
      EXPECT_TRUE(within_ulps(f({xs, row, t})[0], chain({xs, row, t})[0], 4)) << to_string(shape);
    }
  }
}

TEST(Fuse, IntermediatesThatEscapeAreOutputs) {
  auto fn = [](const std::vector<Tensor>& in) {
    Tensor a = exp(in[0]);
    Tensor c = a * 2.0 + 1.0;
    return std::vector<Tensor>{a, c, a - c};
  };
  auto f = compile(fn, fuse("escape"));
  Tensor x = random::normal(random::key(4), {64, 33});
  const std::string d = f.dump({x});
  EXPECT_EQ(count(d, " = fused("), 1) << d;
  EXPECT_NE(d.find("->out2"), std::string::npos) << d;
  auto got = f({x}), want = fn({x});
  for (std::size_t k = 0; k < want.size(); ++k) EXPECT_TRUE(within_ulps(got[k], want[k], 4)) << k;
}

TEST(Fuse, ValuesReadByOtherNodesInsideTheChainSplitIt) {
  // sum reads `a` between a's producer and its last elementwise consumer, so the group
  // cannot run at the end: `a` must exist before the reduction does.
  auto fn = [](const std::vector<Tensor>& in) {
    Tensor a = exp(in[0] * 0.5);
    Tensor s = sum(a, 1, true);
    return std::vector<Tensor>{log(a / s + 1.0)};
  };
  auto f = compile(fn, fuse("split"));
  Tensor x = random::normal(random::key(5), {16, 50});
  const std::string d = f.dump({x});
  EXPECT_EQ(count(d, " = fused("), 2) << d;
  EXPECT_NE(d.find("sum("), std::string::npos) << d;
  EXPECT_TRUE(within_ulps(f({x})[0], fn({x})[0], 4));
}

TEST(Fuse, MixedDtypesCastsAndSelects) {
  // Integer, bool and f16 steps are exact in fused form: they are bitwise equal here.
  auto fn = [](const std::vector<Tensor>& in) {
    const Tensor &x = in[0], &i = in[1];
    Tensor mask = greater(x, scalar_like(x, 0.0));
    Tensor v = where(mask, astype(i * 3, DType::f32), -x);
    Tensor bits = bitwise_and(i, scalar_like(i, 6.0)) + 1;
    return std::vector<Tensor>{v, astype(v, DType::f16) * 2.0, bits, logical_not(mask)};
  };
  auto f = compile(fn, fuse("mixed"));
  Tensor x = random::normal(random::key(6), {40, 41});
  Tensor i = astype(x * 10.0, DType::s32);
  auto got = f({x, i}), want = fn({x, i});
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t k = 0; k < want.size(); ++k) EXPECT_TRUE(within_ulps(got[k], want[k], 4)) << k;
  EXPECT_GE(count(f.dump({x, i}), " = fused("), 1);
}

TEST(Fuse, LongChainsReuseScratchRegisters) {
  // 120 steps in one fused node; values die as the chain moves on, so two registers
  // serve them all (the dump's program would otherwise need 119).
  auto fn = [](const std::vector<Tensor>& in) {
    Tensor h = in[0];
    for (int k = 0; k < 60; ++k) h = sin(h) * 1.01;
    return std::vector<Tensor>{h};
  };
  auto f = compile(fn, fuse("long"));
  Tensor x = random::normal(random::key(7), {5000});
  const std::string d = f.dump({x});
  EXPECT_EQ(count(d, " = fused("), 1) << d;
  EXPECT_NE(d.find("registers=2"), std::string::npos) << d.substr(0, 300);
  EXPECT_TRUE(within_ulps(f({x})[0], fn({x})[0], 4));
}

TEST(Fuse, InsideWhileLoopBodies) {
  // Oracle: the host loop. The body's elementwise chain fuses inside the subgraph.
  auto body = [](const std::vector<Tensor>& s) {
    return std::vector<Tensor>{s[0] + 1, tanh(s[1]) * 0.9 + 0.05};
  };
  auto cond = [](const std::vector<Tensor>& s) {
    return std::vector<Tensor>{less(s[0], scalar_like(s[0], 10.0))};
  };
  auto fn = [&](const std::vector<Tensor>& in) { return while_loop(cond, body, in); };
  auto f = compile(fn, fuse("loop"));
  std::vector<Tensor> state = {scalar_tensor(0, DType::s32), random::normal(random::key(8), {100})};
  auto got = f(state);
  std::vector<Tensor> want = state;
  for (int k = 0; k < 10; ++k) want = body(want);
  EXPECT_TRUE(within_ulps(f(state)[1], want[1], 4));
  EXPECT_NE(f.dump(state).find("fused("), std::string::npos) << f.dump(state);
}

}  // namespace
}  // namespace emily
