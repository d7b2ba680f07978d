// dtypes and the promotion table. The table is the single source of truth; it is
// spelled out (not computed) so it reads like docs/DTYPES.md, which a test compares.
#include "emily/dtype.h"

#include "emily/error.h"

namespace emily {

namespace {
using D = DType;
// clang-format off
constexpr DType kPromotion[kNumDTypes][kNumDTypes] = {
  //         bool     u8    u16    u32    u64     s8    s16    s32    s64    f16   bf16    f32    f64    c64
  /* bool*/ {D::bool_, D::u8, D::u16, D::u32, D::u64, D::s8, D::s16, D::s32, D::s64, D::f16, D::bf16, D::f32, D::f64, D::c64},
  /*   u8*/ {D::u8, D::u8, D::u16, D::u32, D::u64, D::s16, D::s16, D::s32, D::s64, D::f16, D::bf16, D::f32, D::f64, D::c64},
  /*  u16*/ {D::u16, D::u16, D::u16, D::u32, D::u64, D::s32, D::s32, D::s32, D::s64, D::f16, D::bf16, D::f32, D::f64, D::c64},
  /*  u32*/ {D::u32, D::u32, D::u32, D::u32, D::u64, D::s64, D::s64, D::s64, D::s64, D::f16, D::bf16, D::f32, D::f64, D::c64},
  /*  u64*/ {D::u64, D::u64, D::u64, D::u64, D::u64, D::s64, D::s64, D::s64, D::s64, D::f16, D::bf16, D::f32, D::f64, D::c64},
  /*   s8*/ {D::s8, D::s16, D::s32, D::s64, D::s64, D::s8, D::s16, D::s32, D::s64, D::f16, D::bf16, D::f32, D::f64, D::c64},
  /*  s16*/ {D::s16, D::s16, D::s32, D::s64, D::s64, D::s16, D::s16, D::s32, D::s64, D::f16, D::bf16, D::f32, D::f64, D::c64},
  /*  s32*/ {D::s32, D::s32, D::s32, D::s64, D::s64, D::s32, D::s32, D::s32, D::s64, D::f16, D::bf16, D::f32, D::f64, D::c64},
  /*  s64*/ {D::s64, D::s64, D::s64, D::s64, D::s64, D::s64, D::s64, D::s64, D::s64, D::f16, D::bf16, D::f32, D::f64, D::c64},
  /*  f16*/ {D::f16, D::f16, D::f16, D::f16, D::f16, D::f16, D::f16, D::f16, D::f16, D::f16, D::f32, D::f32, D::f64, D::c64},
  /* bf16*/ {D::bf16, D::bf16, D::bf16, D::bf16, D::bf16, D::bf16, D::bf16, D::bf16, D::bf16, D::f32, D::bf16, D::f32, D::f64, D::c64},
  /*  f32*/ {D::f32, D::f32, D::f32, D::f32, D::f32, D::f32, D::f32, D::f32, D::f32, D::f32, D::f32, D::f32, D::f64, D::c64},
  /*  f64*/ {D::f64, D::f64, D::f64, D::f64, D::f64, D::f64, D::f64, D::f64, D::f64, D::f64, D::f64, D::f64, D::f64, D::c64},
  /*  c64*/ {D::c64, D::c64, D::c64, D::c64, D::c64, D::c64, D::c64, D::c64, D::c64, D::c64, D::c64, D::c64, D::c64, D::c64},
};
// clang-format on

struct Traits {
  std::string_view name;
  std::size_t size;
  DTypeKind kind;
};
constexpr Traits kTraits[kNumDTypes] = {
    {"bool", 1, DTypeKind::boolean},     {"u8", 1, DTypeKind::unsigned_int},
    {"u16", 2, DTypeKind::unsigned_int}, {"u32", 4, DTypeKind::unsigned_int},
    {"u64", 8, DTypeKind::unsigned_int}, {"s8", 1, DTypeKind::signed_int},
    {"s16", 2, DTypeKind::signed_int},   {"s32", 4, DTypeKind::signed_int},
    {"s64", 8, DTypeKind::signed_int},   {"f16", 2, DTypeKind::floating},
    {"bf16", 2, DTypeKind::floating},    {"f32", 4, DTypeKind::floating},
    {"f64", 8, DTypeKind::floating},     {"c64", 8, DTypeKind::complex},
};
const Traits& traits(DType t) {
  return kTraits[static_cast<int>(t)];
}
}  // namespace

DTypeKind kind(DType t) {
  return traits(t).kind;
}
std::size_t size_of(DType t) {
  return traits(t).size;
}
std::string_view name(DType t) {
  return traits(t).name;
}

DType dtype_from_name(std::string_view n) {
  for (DType t : kAllDTypes)
    if (name(t) == n) return t;
  EMILY_THROW(DTypeError, "dtype", "unknown dtype '", std::string(n), "'");
}

DType promote(DType a, DType b) {
  return kPromotion[static_cast<int>(a)][static_cast<int>(b)];
}

DType to_inexact(DType t) {
  return is_inexact(t) ? t : DType::f32;
}

}  // namespace emily
