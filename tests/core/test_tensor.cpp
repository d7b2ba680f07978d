#include "support/testing.h"

namespace emily {
namespace {

TEST(Tensor, FromBlobCopiesAndToBlobRoundTrips) {
  std::vector<float> src = {1, 2, 3, 4, 5, 6};
  Tensor t = from_blob(src.data(), {2, 3}, DType::f32);
  src[0] = 100;  // the tensor owns a copy
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.strides(), (Strides{3, 1}));
  std::vector<float> back(6);
  to_blob(t, back.data(), back.size() * sizeof(float));
  EXPECT_EQ(back, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EMILY_ERROR(to_blob(t, back.data(), 4), ValueError, "to_blob");
}

TEST(Tensor, ZeroCopyFromBlobAliasesAndReleases) {
  std::vector<std::int32_t> src = {7, 8, 9};
  bool released = false;
  {
    Tensor t = from_blob_zero_copy(src.data(), {3}, DType::s32, [&](void*) { released = true; });
    EXPECT_EQ(t.raw_data(), src.data());
    src[1] = 42;
    EXPECT_EQ(t.to_vector<std::int32_t>(), (std::vector<std::int32_t>{7, 42, 9}));
  }
  EXPECT_TRUE(released);
}

TEST(Tensor, ItemConvertsAndRejectsManyElements) {
  Tensor t = tensor<double>({2.75});
  EXPECT_EQ(t.item<double>(), 2.75);
  EXPECT_EQ(t.item<int>(), 2);  // truncation toward zero, as astype
  EXPECT_EMILY_ERROR(tensor<float>({1, 2}).item<float>(), ShapeError, "item");
  EXPECT_EMILY_ERROR(tensor<float>({1, 2}, {3}), ShapeError, "tensor");
}

TEST(Tensor, UndefinedTensorRaises) {
  Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_THROW(t.shape(), Error);
}

TEST(Tensor, ViewsShareStorage) {
  Tensor t = tensor<float>({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor tt = transpose(t);
  EXPECT_EQ(tt.shape(), (Shape{3, 2}));
  EXPECT_EQ(tt.strides(), (Strides{1, 3}));
  EXPECT_EQ(tt.buffer(), t.buffer());
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_EQ(tt.to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor s = slice(t, {0, 2}, {2, -4}, {1, -1});  // columns 2,1,0 reversed
  EXPECT_EQ(s.shape(), (Shape{2, 3}));
  EXPECT_EQ(s.to_vector<float>(), (std::vector<float>{2, 1, 0, 5, 4, 3}));
  Tensor b = broadcast_to(tensor<float>({1, 2}), {3, 2});
  EXPECT_EQ(b.strides(), (Strides{0, 1}));
  EXPECT_EQ(b.to_vector<float>(), (std::vector<float>{1, 2, 1, 2, 1, 2}));
}

TEST(Tensor, ReshapeOfNonContiguousCopies) {
  Tensor t = transpose(tensor<std::int32_t>({0, 1, 2, 3, 4, 5}, {2, 3}));
  Tensor r = reshape(t, {-1});
  EXPECT_EQ(r.to_vector<std::int32_t>(), (std::vector<std::int32_t>{0, 3, 1, 4, 2, 5}));
  EXPECT_EMILY_ERROR(reshape(t, {4, -1}), ShapeError, "reshape");
  EXPECT_EMILY_ERROR(reshape(t, {-1, -1}), ShapeError, "reshape");
}

TEST(Tensor, AsStridedIsBoundsChecked) {
  Tensor t = tensor<float>({0, 1, 2, 3});
  Tensor w = as_strided(t, {3, 2}, {1, 1}, 0);  // sliding windows
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{0, 1, 1, 2, 2, 3}));
  EXPECT_EMILY_ERROR(as_strided(t, {3, 2}, {1, 2}, 0), ValueError, "as_strided");
  EXPECT_EMILY_ERROR(as_strided(t, {2}, {-1}, 0), ValueError, "as_strided");
}

TEST(Tensor, ViewReinterpretsBytes) {
  Tensor t = tensor<float>({1.0f, -2.0f});
  Tensor u = view(t, DType::u32);
  EXPECT_EQ(u.to_vector<std::uint32_t>(), (std::vector<std::uint32_t>{0x3f800000u, 0xc0000000u}));
  Tensor b = view(t, DType::u8);
  EXPECT_EQ(b.shape(), (Shape{8}));
  EXPECT_EMILY_ERROR(view(tensor<std::uint8_t>({1, 2, 3}), DType::u16), ShapeError, "view");
}

TEST(Tensor, PrintsLikeNumPy) {
  EXPECT_EQ(to_string(tensor<std::int32_t>({1, 2, 3, 4}, {2, 2})),
            "tensor([[1, 2],\n        [3, 4]], dtype=s32)");
  EXPECT_EQ(to_string(tensor<float>({1.5f, -2.0f})), "tensor([1.5, -2.], dtype=f32)");
  EXPECT_EQ(to_string(tensor<float>({1.0f, 2.0f})), "tensor([1., 2.], dtype=f32)");
  EXPECT_EQ(to_string(tensor<bool>({true, false})), "tensor([ true, false], dtype=bool)");
  EXPECT_EQ(to_string(zeros({0, 3})), "tensor([[]], dtype=f32, shape=(0, 3))");
  std::string big = to_string(arange(2000, DType::s64));
  EXPECT_NE(big.find("   0,    1,    2, ..., 1997, 1998, 1999"), std::string::npos) << big;
}

TEST(Tensor, CreationOps) {
  EXPECT_EQ(arange(0, 1, 0.25, DType::f32).to_vector<float>(),
            (std::vector<float>{0, 0.25, 0.5, 0.75}));
  EXPECT_EQ(arange(3).dtype(), DType::s64);
  EXPECT_EQ(arange(5, 0, -2, DType::s32).to_vector<int>(), (std::vector<int>{5, 3, 1}));
  EXPECT_EQ(arange(3, 0, 1, DType::f32).size(), 0);
  EXPECT_EMILY_ERROR(arange(0, 1, 0), ValueError, "arange");
  EXPECT_EQ(eye(2, 3, 1, DType::s32).to_vector<int>(), (std::vector<int>{0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(eye(2).shape(), (Shape{2, 2}));
  EXPECT_EMILY_ERROR(eye(3, -5), ShapeError, "eye");
  EXPECT_EMILY_ERROR(eye(-1), ShapeError, "eye");
  EXPECT_EQ(full({2}, 7.9, DType::s8).to_vector<int>(), (std::vector<int>{7, 7}));
  EXPECT_EQ(full({2}, 1e9, DType::s8).to_vector<int>(), (std::vector<int>{127, 127}));  // saturates
  EXPECT_EQ(scalar_tensor(2.5).ndim(), 0);
  EXPECT_EMILY_ERROR(zeros({-1}), ShapeError, "full");
  EXPECT_EMILY_ERROR(full({2}, tensor<float>({1, 2})), ShapeError, "full");
}

}  // namespace
}  // namespace emily
