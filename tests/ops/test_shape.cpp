// concatenate, stack, pad, slice_update and the view ops (reshape, squeeze,
// expand_dims, transpose, swapaxes, broadcast_to, slice, as_strided).
// Goldens: scripts/fixtures/shape.py. These ops only move values, so comparisons are
// exact (all_equal / ==) unless stated otherwise.
#include <limits>

#include "support/testing.h"

namespace emily {
namespace {

using testing::all_equal;
using testing::floats;
using testing::iota;

Tensor fx(const std::string& name) {
  return testing::op_fixture("shape", name);
}

std::vector<std::int64_t> vi(const Tensor& t) {
  return t.to_vector<std::int64_t>();
}

// ---- concatenate ------------------------------------------------------------------------

TEST(Concatenate, MatchesNumPyWithAnEmptyInput) {
  // Oracle: np.concatenate([a, b, c], axis=1), c of shape (2, 0).
  std::vector<Tensor> xs = {fx("concat_a"), fx("concat_b"), fx("concat_c")};
  EXPECT_TRUE(all_equal(concatenate(xs, 1), fx("concat_axis1")));
  EXPECT_TRUE(all_equal(concatenate(xs, -1), fx("concat_axis1")));
}

TEST(Concatenate, PromotesDtypes) {
  // Oracle: NumPy on the s32 input cast to f32 (Emily's s32 + f32 = f32, docs/DTYPES.md).
  Tensor y = concatenate({fx("concat_a"), fx("concat_int")}, 0);
  EXPECT_EQ(y.dtype(), DType::f32);
  EXPECT_TRUE(all_equal(y, fx("concat_mixed")));
  // u8 with s8 gives s16 (promotion table); values hand-written.
  Tensor z = concatenate({tensor<std::uint8_t>({200}), tensor<std::int8_t>({-3})});
  EXPECT_EQ(z.dtype(), DType::s16);
  EXPECT_EQ(vi(z), (std::vector<std::int64_t>{200, -3}));
}

TEST(Concatenate, NonContiguousInputs) {
  // Hand-computed: a transposed view, a broadcast view and a reversed slice.
  Tensor a = transpose(tensor<float>({0, 1, 2, 3, 4, 5}, {2, 3}));  // [[0,3],[1,4],[2,5]]
  Tensor b = broadcast_to(tensor<float>({7, 8}), {2, 2});           // [[7,8],[7,8]]
  Tensor c = slice(tensor<float>({10, 11, 12, 13}, {2, 2}), {1, 1}, {-3, -3}, {-1, -1});
  Tensor y = concatenate({a, b, c}, 0);  // c = [[13,12],[11,10]]
  EXPECT_EQ(y.shape(), (Shape{7, 2}));
  EXPECT_EQ(floats(y), (std::vector<float>{0, 3, 1, 4, 2, 5, 7, 8, 7, 8, 13, 12, 11, 10}));
  Tensor z = concatenate({b, c}, 1);
  EXPECT_EQ(floats(z), (std::vector<float>{7, 8, 13, 12, 7, 8, 11, 10}));
}

TEST(Concatenate, EveryDtype) {
  // Oracle: the same values built directly (the kernel moves bytes by width).
  for (DType dt : kAllDTypes) {
    Tensor y =
        concatenate({astype(tensor<float>({0, 1, 2}), dt), astype(tensor<float>({1, 0}), dt)});
    EXPECT_TRUE(all_equal(y, astype(tensor<float>({0, 1, 2, 1, 0}), dt))) << name(dt);
  }
}

TEST(Concatenate, EmptyAndSingleInputs) {
  // Hand-computed shapes: empty tensors concatenate like any other.
  Tensor e = concatenate({zeros({0, 3}), zeros({0, 3})}, 0);
  EXPECT_EQ(e.shape(), (Shape{0, 3}));
  EXPECT_EQ(concatenate({zeros({2, 0}), ones({2, 0})}, 0).shape(), (Shape{4, 0}));
  Tensor one = concatenate({tensor<std::int32_t>({4, 5})});
  EXPECT_EQ(vi(one), (std::vector<std::int64_t>{4, 5}));
}

TEST(Concatenate, LargeInputsRunInParallel) {
  // Identity: the halves of the result are the inputs (sizes above the parallel grain).
  Tensor a = iota({300, 256}), b = full({300, 256}, -1.0f);
  Tensor y = concatenate({a, b}, 1);
  EXPECT_TRUE(all_equal(slice(y, {0, 0}, {300, 256}), a));
  EXPECT_TRUE(all_equal(slice(y, {0, 256}, {300, 512}), b));
}

TEST(Concatenate, Errors) {
  EXPECT_EMILY_ERROR(concatenate({}), ValueError, "concatenate");
  EXPECT_EMILY_ERROR(concatenate({scalar_tensor(1), scalar_tensor(2)}), ShapeError, "concatenate");
  EXPECT_EMILY_ERROR(concatenate({zeros({2, 3}), zeros({3, 3})}, 1), ShapeError, "concatenate");
  EXPECT_EMILY_ERROR(concatenate({zeros({2, 3}), zeros({2, 3, 1})}, 0), ShapeError, "concatenate");
  EXPECT_EMILY_ERROR(concatenate({zeros({2, 3}), zeros({2, 3})}, 2), ShapeError, "concatenate");
  EXPECT_EMILY_ERROR(concatenate({zeros({2}), Tensor()}), ValueError, "concatenate");
}

// ---- stack --------------------------------------------------------------------------------

TEST(Stack, NewAxisAnywhere) {
  // Hand-computed: np.stack([a, b], axis) for a = [[0,1,2],[3,4,5]], b = a + 6.
  Tensor a = iota({2, 3}), b = iota({2, 3}) + 6.0;
  Tensor s0 = stack({a, b});
  EXPECT_EQ(s0.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(floats(s0), (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  Tensor s2 = stack({a, b}, -1);
  EXPECT_EQ(s2.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(floats(s2), (std::vector<float>{0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11}));
  Tensor s1 = stack({a, b}, 1);
  EXPECT_EQ(floats(s1), (std::vector<float>{0, 1, 2, 6, 7, 8, 3, 4, 5, 9, 10, 11}));
  // 0-d inputs stack into a vector; dtypes promote (s32 with f64 gives f64).
  Tensor v = stack({scalar_tensor(1, DType::s32), scalar_tensor(2.5, DType::f64)});
  EXPECT_EQ(v.dtype(), DType::f64);
  EXPECT_EQ(v.to_vector<double>(), (std::vector<double>{1, 2.5}));
}

TEST(Stack, Errors) {
  EXPECT_EMILY_ERROR(stack({}), ValueError, "stack");
  EXPECT_EMILY_ERROR(stack({zeros({2}), zeros({3})}), ShapeError, "stack");
  EXPECT_EMILY_ERROR(stack({zeros({2}), zeros({2})}, 2), ShapeError, "stack");
  EXPECT_EMILY_ERROR(stack({zeros({2}), Tensor()}), ValueError, "stack");
}

// ---- pad ----------------------------------------------------------------------------------

TEST(Pad, MatchesNumPyReference) {
  // Oracle: nx_pad in scripts/fixtures/shape.py (interior by strided assignment, then
  // np.pad and cropping).
  Tensor x = fx("pad_x");
  EXPECT_TRUE(all_equal(pad(x, {{1, 2, 0}, {-1, 1, 2}}, 9.0), fx("pad_a")));
  EXPECT_TRUE(all_equal(pad(x, {{-2, -1, 1}, {0, 0, 0}}, -1.5), fx("pad_b")));
  EXPECT_TRUE(
      all_equal(pad(fx("pad_int_x"), {{0, 1, 1}, {2, -3, 0}, {1, 1, 3}}, 7.0), fx("pad_int")));
}

TEST(Pad, NonContiguousInput) {
  // Hand-computed: the transpose of [[0,1],[2,3]] is [[0,2],[1,3]]; one column of -1
  // each side and interior 1 on rows.
  Tensor x = transpose(iota({2, 2}));
  Tensor y = pad(x, {{0, 0, 1}, {1, 1, 0}}, -1.0);
  EXPECT_EQ(y.shape(), (Shape{3, 4}));
  EXPECT_EQ(floats(y), (std::vector<float>{-1, 0, 2, -1, -1, -1, -1, -1, -1, 1, 3, -1}));
}

TEST(Pad, ValueConvertsToTheTensorDtype) {
  // Hand-computed: 300 saturates to 127 in s8 (astype rules); 2.75 truncates to 2.
  EXPECT_EQ(vi(pad(tensor<std::int8_t>({1}), {{1, 0, 0}}, 300.0)),
            (std::vector<std::int64_t>{127, 1}));
  EXPECT_EQ(vi(pad(tensor<std::int32_t>({1}), {{0, 1, 0}}, scalar_tensor(2.75, DType::f64))),
            (std::vector<std::int64_t>{1, 2}));
  Tensor b = pad(tensor<bool>({true}), {{1, 1, 0}}, 0.0);
  EXPECT_EQ(b.dtype(), DType::bool_);
  EXPECT_EQ(vi(b), (std::vector<std::int64_t>{0, 1, 0}));
  Tensor h = pad(astype(tensor<float>({1.5f}), DType::bf16), {{0, 1, 0}}, -2.0);
  EXPECT_EQ(h.dtype(), DType::bf16);
  EXPECT_EQ(floats(h), (std::vector<float>{1.5f, -2.0f}));
  Tensor c = pad(tensor<c64>({c64(1, 2)}), {{1, 0, 0}}, 3.0);
  EXPECT_EQ(c.to_vector<c64>(), (std::vector<c64>{c64(3, 0), c64(1, 2)}));
  // NaN and Inf pad values are values like any other.
  auto nan = pad(tensor<float>({1}), {{1, 0, 0}}, std::numeric_limits<double>::quiet_NaN());
  EXPECT_TRUE(std::isnan(floats(nan)[0]));
  EXPECT_EQ(floats(pad(tensor<float>({1}), {{0, 1, 0}}, -INFINITY))[1], -INFINITY);
}

TEST(Pad, ZeroDimAndEmpty) {
  // Hand-computed: a 0-d tensor pads to itself; an empty axis becomes low + high fill
  // values (interior needs two elements); cropping everything leaves an empty axis.
  Tensor s = pad(scalar_tensor(4.0), {}, 1.0);
  EXPECT_EQ(s.ndim(), 0);
  EXPECT_EQ(s.item<float>(), 4.0f);
  Tensor e = pad(zeros({0, 2}), {{1, 1, 5}, {0, 0, 0}}, 3.0);
  EXPECT_EQ(e.shape(), (Shape{2, 2}));
  EXPECT_EQ(floats(e), (std::vector<float>{3, 3, 3, 3}));
  Tensor gone = pad(iota({3}), {{-2, -1, 0}}, 0.0);
  EXPECT_EQ(gone.shape(), (Shape{0}));
  // A crop reaching past interior padding: with low -5 and interior 2, the elements of
  // [7, 8, 9] land at -5, -2 and 1 of an output of size 2, so only 9 survives.
  Tensor odd = pad(tensor<float>({7, 8, 9}), {{-5, 0, 2}}, 0.0);
  EXPECT_EQ(floats(odd), (std::vector<float>{0, 9}));
}

TEST(Pad, Errors) {
  Tensor x = zeros({2, 3});
  EXPECT_EMILY_ERROR(pad(x, {{1, 1, 0}}), ShapeError, "pad");
  EXPECT_EMILY_ERROR(pad(x, {{0, 0, -1}, {0, 0, 0}}), ValueError, "pad");
  EXPECT_EMILY_ERROR(pad(x, {{-2, -1, 0}, {0, 0, 0}}), ShapeError, "pad");
  EXPECT_EMILY_ERROR(pad(x, {{0, 0, 0}, {0, 0, 0}}, tensor<float>({1, 2})), ShapeError, "pad");
  EXPECT_EMILY_ERROR(pad(Tensor(), {}), ValueError, "pad");
  EXPECT_EMILY_ERROR(pad(x, {{0, 0, 0}, {0, 0, 0}}, Tensor()), ValueError, "pad");
}

// ---- slice_update -------------------------------------------------------------------------

TEST(SliceUpdate, MatchesNumPyAssignment) {
  // Oracle: y = x.copy(); y[1:4:2, ::-2] = u (u of shape (2, 1) broadcasts).
  Tensor x = fx("su_x");
  Tensor y = slice_update(x, fx("su_u"), {1, 4}, {4, -6}, {2, -2});
  EXPECT_TRUE(all_equal(y, fx("su_expected")));
  EXPECT_TRUE(all_equal(x, fx("su_x")));  // x itself is unchanged
  // Oracle: y[::-1, 1:3, :] = u.astype(int64): f32 updates truncate into s64.
  Tensor yi = slice_update(fx("su_int_x"), fx("su_int_u"), {-1, 1}, {-4, 3}, {-1, 1});
  EXPECT_TRUE(all_equal(yi, fx("su_int_expected")));
}

TEST(SliceUpdate, ScalarBroadcastNonContiguousAndEmpty) {
  // Hand-computed. A 0-d update fills the region; x may be a transposed view.
  Tensor x = transpose(iota({2, 3}));  // [[0,3],[1,4],[2,5]]
  Tensor y = slice_update(x, scalar_tensor(-1), {1}, {3});
  EXPECT_EQ(floats(y), (std::vector<float>{0, 3, -1, -1, -1, -1}));
  // A non-contiguous (reversed) update into every other element.
  Tensor u = slice(tensor<float>({10, 20, 30}), {2}, {-4}, {-1});  // [30,20,10]
  EXPECT_EQ(floats(slice_update(zeros({6}), u, {0}, {6}, {2})),
            (std::vector<float>{30, 0, 20, 0, 10, 0}));
  // An empty region (start past the end) gives a copy of x.
  Tensor e = slice_update(iota({3}), zeros({0}), {5}, {9});
  EXPECT_EQ(floats(e), (std::vector<float>{0, 1, 2}));
  // 0-d x: the region is the whole tensor.
  EXPECT_EQ(slice_update(scalar_tensor(1), scalar_tensor(2), {}, {}).item<float>(), 2.0f);
  // Every dtype: the update lands in x's dtype.
  for (DType dt : kAllDTypes) {
    Tensor z = slice_update(astype(tensor<float>({0, 0, 0}), dt), tensor<float>({1}), {1}, {2});
    EXPECT_TRUE(all_equal(z, astype(tensor<float>({0, 1, 0}), dt))) << name(dt);
  }
}

TEST(SliceUpdate, Errors) {
  Tensor x = zeros({4, 5});
  EXPECT_EMILY_ERROR(slice_update(x, zeros({3}), {0, 0}, {2, 2}), ShapeError, "slice_update");
  EXPECT_EMILY_ERROR(slice_update(x, zeros({2}), {0, 0}, {1, 1}), ShapeError, "slice_update");
  EXPECT_EMILY_ERROR(slice_update(x, zeros({1}), {0}, {1}, {0}), ValueError, "slice_update");
  EXPECT_EMILY_ERROR(slice_update(x, zeros({1}), {0, 0, 0}, {1, 1, 1}), ShapeError, "slice_update");
  EXPECT_EMILY_ERROR(slice_update(x, zeros({1}), {0, 0}, {1}), ShapeError, "slice_update");
  EXPECT_EMILY_ERROR(slice_update(x, Tensor(), {0}, {1}), ValueError, "slice_update");
}

// ---- view ops: edge cases and errors ------------------------------------------------------

TEST(Views, Reshape) {
  // Hand-computed.
  Tensor x = iota({2, 3});
  EXPECT_EQ(reshape(x, {3, -1}).shape(), (Shape{3, 2}));
  EXPECT_EQ(reshape(x, {-1}).shape(), (Shape{6}));
  EXPECT_EQ(reshape(scalar_tensor(5), {1, 1}).shape(), (Shape{1, 1}));
  EXPECT_EQ(reshape(tensor<float>({5}), {}).ndim(), 0);
  EXPECT_EQ(reshape(zeros({0, 3}), {3, -1}).shape(), (Shape{3, 0}));
  EXPECT_EQ(reshape(x, {6}).buffer(), x.buffer());  // a view of dense data
  EXPECT_EQ(floats(reshape(slice(x, {0, 0}, {2, 3}, {1, 2}), {4})),
            (std::vector<float>{0, 2, 3, 5}));
  EXPECT_EMILY_ERROR(reshape(x, {4, -1}), ShapeError, "reshape");
  EXPECT_EMILY_ERROR(reshape(x, {-1, -1}), ShapeError, "reshape");
  EXPECT_EMILY_ERROR(reshape(x, {-2, -3}), ShapeError, "reshape");
  EXPECT_EMILY_ERROR(reshape(x, {7}), ShapeError, "reshape");
  EXPECT_EMILY_ERROR(reshape(zeros({0, 3}), {0, -1}), ShapeError, "reshape");
  EXPECT_EMILY_ERROR(reshape(Tensor(), {1}), ValueError, "reshape");
}

TEST(Views, SqueezeAndExpandDims) {
  // Hand-computed shapes.
  Tensor x = zeros({1, 3, 1, 2});
  EXPECT_EQ(squeeze(x).shape(), (Shape{3, 2}));
  EXPECT_EQ(squeeze(x, {-2}).shape(), (Shape{1, 3, 2}));
  EXPECT_EQ(squeeze(zeros({1, 1})).ndim(), 0);
  EXPECT_EQ(squeeze(scalar_tensor(1)).ndim(), 0);
  EXPECT_EMILY_ERROR(squeeze(x, {1}), ShapeError, "squeeze");
  EXPECT_EMILY_ERROR(squeeze(x, {4}), ShapeError, "squeeze");
  EXPECT_EMILY_ERROR(squeeze(x, {0, 0}), ShapeError, "squeeze");
  EXPECT_EQ(expand_dims(zeros({3, 2}), {0, -1}).shape(), (Shape{1, 3, 2, 1}));
  EXPECT_EQ(expand_dims(zeros({3, 2}), {1, 3}).shape(), (Shape{3, 1, 2, 1}));
  EXPECT_EQ(expand_dims(scalar_tensor(2), {0}).shape(), (Shape{1}));
  EXPECT_EQ(floats(expand_dims(transpose(iota({2, 2})), {1})), (std::vector<float>{0, 2, 1, 3}));
  EXPECT_EMILY_ERROR(expand_dims(zeros({3}), {2}), ShapeError, "expand_dims");
  EXPECT_EMILY_ERROR(expand_dims(zeros({3}), {0, 0}), ShapeError, "expand_dims");
}

TEST(Views, TransposeAndSwapaxes) {
  // Hand-computed: x of shape (2, 1, 3) holds x[i, 0, k] = 3i + k.
  Tensor x = iota({2, 1, 3});
  Tensor t = transpose(x, {2, 0, -2});
  EXPECT_EQ(t.shape(), (Shape{3, 2, 1}));
  EXPECT_EQ(floats(t), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(transpose(x).shape(), (Shape{3, 1, 2}));
  EXPECT_EQ(transpose(scalar_tensor(1)).ndim(), 0);
  EXPECT_EQ(floats(swapaxes(x, 0, -1)), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(swapaxes(x, 1, 1).shape(), x.shape());
  EXPECT_EMILY_ERROR(transpose(x, {0, 1}), ShapeError, "transpose");
  EXPECT_EMILY_ERROR(transpose(x, {0, 1, 1}), ShapeError, "transpose");
  EXPECT_EMILY_ERROR(transpose(x, {0, 1, 3}), ShapeError, "transpose");
  EXPECT_EMILY_ERROR(swapaxes(x, 0, 3), ShapeError, "swapaxes");
}

TEST(Views, BroadcastTo) {
  // Hand-computed.
  Tensor b = broadcast_to(tensor<float>({1, 2, 3}, {3, 1}), {2, 3, 2});
  EXPECT_EQ(b.strides(), (Strides{0, 1, 0}));
  EXPECT_EQ(floats(b), (std::vector<float>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));
  EXPECT_EQ(broadcast_to(scalar_tensor(7), {2}).to_vector<float>(), (std::vector<float>{7, 7}));
  EXPECT_EQ(broadcast_to(zeros({1, 3}), {0, 3}).shape(), (Shape{0, 3}));
  EXPECT_EMILY_ERROR(broadcast_to(zeros({2, 3}), {3}), ShapeError, "broadcast_to");
  EXPECT_EMILY_ERROR(broadcast_to(zeros({2, 3}), {4, 3}), ShapeError, "broadcast_to");
  EXPECT_EMILY_ERROR(broadcast_to(zeros({1}), {-1}), ShapeError, "broadcast_to");
}

TEST(Views, Slice) {
  // Oracle: NumPy basic slicing, worked by hand for x = [0..9].
  Tensor x = iota({10});
  EXPECT_EQ(floats(slice(x, {2}, {8}, {3})), (std::vector<float>{2, 5}));
  EXPECT_EQ(floats(slice(x, {-3}, {100})), (std::vector<float>{7, 8, 9}));  // x[-3:100]
  EXPECT_EQ(floats(slice(x, {8}, {2}, {-3})), (std::vector<float>{8, 5}));  // x[8:2:-3]
  EXPECT_EQ(floats(slice(x, {100}, {-100}, {-4})),
            (std::vector<float>{9, 5, 1}));                       // x[100:-100:-4]
  EXPECT_EQ(slice(x, {5}, {2}).shape(), (Shape{0}));              // x[5:2]
  EXPECT_EQ(slice(x, {}, {}, {-1}).to_vector<float>()[0], 9.0f);  // x[::-1]
  // Omitted trailing axes are whole; a slice of a slice composes.
  Tensor m = iota({3, 4});
  Tensor s = slice(slice(m, {1}, {3}), {0, 3}, {2, 0}, {1, -2});
  EXPECT_EQ(floats(s), (std::vector<float>{7, 5, 11, 9}));
  EXPECT_EQ(slice(zeros({0, 2}), {0, 0}, {5, 1}).shape(), (Shape{0, 1}));
  EXPECT_EMILY_ERROR(slice(x, {0}, {5}, {0}), ValueError, "slice");
  EXPECT_EMILY_ERROR(slice(x, {0, 0}, {1, 1}), ShapeError, "slice");
  EXPECT_EMILY_ERROR(slice(x, {0}, {}), ShapeError, "slice");
}

TEST(Views, AsStrided) {
  // Hand-computed: overlapping windows, a stride-0 axis, negative strides inside the
  // buffer and an offset into a sliced tensor's buffer.
  Tensor x = iota({6});
  EXPECT_EQ(floats(as_strided(x, {2, 3}, {2, 1}, 1)), (std::vector<float>{1, 2, 3, 3, 4, 5}));
  EXPECT_EQ(floats(as_strided(x, {2, 2}, {0, 1}, 4)), (std::vector<float>{4, 5, 4, 5}));
  EXPECT_EQ(floats(as_strided(x, {3}, {-2}, 5)), (std::vector<float>{5, 3, 1}));
  EXPECT_EQ(as_strided(x, {0, 4}, {100, 100}, 0).shape(), (Shape{0, 4}));  // empty: no reach
  EXPECT_EQ(as_strided(x, {}, {}, 5).item<float>(), 5.0f);
  EXPECT_EMILY_ERROR(as_strided(x, {2}, {1, 1}, 0), ShapeError, "as_strided");
  EXPECT_EMILY_ERROR(as_strided(x, {-1}, {1}, 0), ShapeError, "as_strided");
  EXPECT_EMILY_ERROR(as_strided(x, {3}, {2}, 2), ValueError, "as_strided");  // reaches 6
  EXPECT_EMILY_ERROR(as_strided(x, {}, {}, 6), ValueError, "as_strided");
  // (2^62 + 1) * 4 wraps to 4 in int64 and would pass a naive bounds check.
  const std::int64_t huge = (std::int64_t{1} << 62) + 2;
  EXPECT_EMILY_ERROR(as_strided(x, {huge}, {4}, 0), ValueError, "as_strided");
  EXPECT_EMILY_ERROR(as_strided(x, {2, huge}, {1, -4}, 5), ValueError, "as_strided");
}

TEST(Views, ViewAsBoolOnlyFromBool) {
  // Bytes other than 0/1 are not bools; the bitcast refuses rather than make them.
  EXPECT_EMILY_ERROR(view(tensor<std::uint8_t>({0, 2}), DType::bool_), DTypeError, "view");
  EXPECT_EQ(view(tensor<bool>({true, false}), DType::u8).to_vector<std::uint8_t>(),
            (std::vector<std::uint8_t>{1, 0}));
  EXPECT_EQ(view(tensor<bool>({true}), DType::bool_).item<bool>(), true);
}

}  // namespace
}  // namespace emily
