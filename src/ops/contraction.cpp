// matmul, tensordot and einsum. tensordot and einsum are composites: transposes and
// reshapes (views wherever the strides allow, so the matmul kernel can hand a
// transposed operand to BLAS through its trans flag) around one batched matmul per
// pair of operands.
#include <algorithm>
#include <numeric>

#include "emily/ops.h"
#include "ops/dispatch.h"

namespace emily {

namespace {

using detail::dispatch;
using detail::require_defined;

// Merges consecutive runs of axes of `t` into single axes: group g takes the next
// counts[g] axes (0 axes give a size-1 axis). A view when every group is dense in
// itself, else a reshape of a contiguous copy.
Tensor merge_axes(const Tensor& t, const std::vector<int>& counts) {
  Shape shape;
  Strides strides;
  bool view = true;
  int ax = 0;
  for (int c : counts) {
    std::int64_t size = 1, stride = 0;
    bool have = false;
    for (int i = 0; i < c; ++i, ++ax) {
      const std::int64_t n = t.shape()[ax], s = t.strides()[ax];
      size *= n;
      if (n == 1) continue;
      if (have && stride != s * n) view = false;
      stride = s;
      have = true;
    }
    shape.push_back(size);
    strides.push_back(stride);
  }
  if (view && numel(shape) > 0) return t.with_layout(t.dtype(), shape, strides, t.offset());
  return reshape(t, shape);
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  require_defined("matmul", a);
  require_defined("matmul", b);
  if (a.ndim() == 0 || b.ndim() == 0) {
    EMILY_THROW(ShapeError, "matmul", "operands must have at least 1 axis, got shapes ",
                to_string(a.shape()), " and ", to_string(b.shape()));
  }
  const DType dtype = promote(a.dtype(), b.dtype());
  Tensor A = astype(a, dtype), B = astype(b, dtype);
  // NumPy: a 1-d left operand is a row, a 1-d right operand a column; both go again.
  const bool row = A.ndim() == 1, col = B.ndim() == 1;
  if (row) A = expand_dims(A, {0});
  if (col) B = expand_dims(B, {1});
  const std::int64_t M = A.shape(-2), K = A.shape(-1), K2 = B.shape(-2), N = B.shape(-1);
  if (K != K2) EMILY_THROW(ShapeError, "matmul", "inner dimensions ", K, " and ", K2, " differ");
  Shape batch = broadcast_shapes("matmul", Shape(A.shape().begin(), A.shape().end() - 2),
                                 Shape(B.shape().begin(), B.shape().end() - 2));
  auto with = [&](std::initializer_list<std::int64_t> tail) {
    Shape s = batch;
    s.insert(s.end(), tail);
    return s;
  };
  Tensor out =
      dispatch(Primitive::matmul, {broadcast_to(A, with({M, K})), broadcast_to(B, with({K, N}))},
               with({M, N}), dtype);
  if (!row && !col) return out;
  Shape shape = batch;
  if (!row) shape.push_back(M);
  if (!col) shape.push_back(N);
  return reshape(out, shape);
}

Tensor tensordot(const Tensor& a, const Tensor& b, const std::vector<int>& axes_a,
                 const std::vector<int>& axes_b) {
  require_defined("tensordot", a);
  require_defined("tensordot", b);
  if (axes_a.size() != axes_b.size()) {
    EMILY_THROW(ShapeError, "tensordot", "got ", axes_a.size(), " axes for a and ", axes_b.size(),
                " for b");
  }
  auto ca = normalize_axes("tensordot", axes_a, a.ndim());
  auto cb = normalize_axes("tensordot", axes_b, b.ndim());
  for (std::size_t i = 0; i < ca.size(); ++i) {
    if (a.shape()[ca[i]] != b.shape()[cb[i]]) {
      EMILY_THROW(ShapeError, "tensordot", "axis ", ca[i], " of a has size ", a.shape()[ca[i]],
                  ", axis ", cb[i], " of b has size ", b.shape()[cb[i]]);
    }
  }
  auto free_axes = [](const std::vector<int>& contracted, int rank) {
    std::vector<int> out;
    for (int i = 0; i < rank; ++i)
      if (std::find(contracted.begin(), contracted.end(), i) == contracted.end()) out.push_back(i);
    return out;
  };
  auto fa = free_axes(ca, a.ndim()), fb = free_axes(cb, b.ndim());
  std::vector<int> pa = fa, pb = cb;
  pa.insert(pa.end(), ca.begin(), ca.end());
  pb.insert(pb.end(), fb.begin(), fb.end());
  const int nc = static_cast<int>(ca.size());
  Tensor A = merge_axes(transpose(a, pa), {static_cast<int>(fa.size()), nc});
  Tensor B = merge_axes(transpose(b, pb), {nc, static_cast<int>(fb.size())});
  Shape shape;
  for (int i : fa) shape.push_back(a.shape()[i]);
  for (int i : fb) shape.push_back(b.shape()[i]);
  return reshape(matmul(A, B), shape);
}

Tensor tensordot(const Tensor& a, const Tensor& b, int axes) {
  require_defined("tensordot", a);
  require_defined("tensordot", b);
  if (axes < 0) EMILY_THROW(ValueError, "tensordot", "axes must be non-negative, got ", axes);
  if (axes > a.ndim() || axes > b.ndim()) {
    EMILY_THROW(ShapeError, "tensordot", "cannot contract ", axes, " axes of tensors of rank ",
                a.ndim(), " and ", b.ndim());
  }
  std::vector<int> xa(static_cast<std::size_t>(axes)), xb(static_cast<std::size_t>(axes));
  std::iota(xa.begin(), xa.end(), a.ndim() - axes);
  std::iota(xb.begin(), xb.end(), 0);
  return tensordot(a, b, xa, xb);
}

// ---- einsum ---------------------------------------------------------------------------

namespace {

// Label ids: 'A'..'Z' are 0..25 and 'a'..'z' 26..51 (ASCII order, which NumPy's
// implicit output follows); the broadcast axes of "..." are kEll + j, aligned right.
constexpr int kLetters = 52;
constexpr int kEll = kLetters;
constexpr int kEllMarker = -1;

int label_id(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return 26 + (c - 'a');
  return -2;
}
char label_char(int id) {
  return id < 26 ? static_cast<char>('A' + id) : static_cast<char>('a' + id - 26);
}
std::string label_name(int id) {
  return id < kLetters ? std::string(1, label_char(id)) : "...[" + std::to_string(id - kEll) + "]";
}

// One term: label ids with kEllMarker where "..." stands.
std::vector<int> parse_term(const std::string& term) {
  std::vector<int> out;
  bool ell = false;
  for (std::size_t i = 0; i < term.size(); ++i) {
    if (term[i] == '.') {
      if (term.compare(i, 3, "...") != 0) {
        EMILY_THROW(ValueError, "einsum", "'.' must be part of \"...\" in \"", term, "\"");
      }
      if (ell) EMILY_THROW(ValueError, "einsum", "more than one \"...\" in \"", term, "\"");
      ell = true;
      out.push_back(kEllMarker);
      i += 2;
      continue;
    }
    int id = label_id(term[i]);
    if (id < 0) EMILY_THROW(ValueError, "einsum", "invalid subscript character '", term[i], "'");
    out.push_back(id);
  }
  return out;
}

struct Operand {
  Tensor t;
  std::vector<int> labels;  // one per axis, unique once diagonals are taken
};

bool contains(const std::vector<int>& v, int x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Sums out the axes of `op` whose labels fail `keep`, keeping the dtype.
template <class Keep>
void sum_out(Operand& op, Keep keep) {
  std::vector<int> axes, labels;
  for (std::size_t i = 0; i < op.labels.size(); ++i) {
    if (keep(op.labels[i]))
      labels.push_back(op.labels[i]);
    else
      axes.push_back(static_cast<int>(i));
  }
  if (axes.empty()) return;
  // sum widens integers to 64 bits; the narrowing back wraps, which is what a sum in the
  // operand's own type would give (bool: any).
  op.t = astype(sum(op.t, axes), op.t.dtype());
  op.labels = std::move(labels);
}

// Contracts a pair: labels in both that `needed` keeps are batch axes, the other shared
// ones are summed by the matmul. Result labels: batch, then left-only, then right-only.
template <class Needed>
Operand contract(Operand l, Operand r, Needed needed) {
  // A shared label of size 1 on one side only broadcasts: sum the other side over it.
  for (int lab : std::vector<int>(l.labels)) {
    auto il = std::find(l.labels.begin(), l.labels.end(), lab) - l.labels.begin();
    auto ir = std::find(r.labels.begin(), r.labels.end(), lab) - r.labels.begin();
    if (ir == static_cast<long>(r.labels.size()) || needed(lab)) continue;
    const std::int64_t sl = l.t.shape()[il], sr = r.t.shape()[ir];
    if (sl == sr) continue;
    Operand& one = sl == 1 ? l : r;
    Operand& many = sl == 1 ? r : l;
    sum_out(many, [&](int x) { return x != lab; });
    one.t = squeeze(one.t, {static_cast<int>(sl == 1 ? il : ir)});
    one.labels.erase(one.labels.begin() + (sl == 1 ? il : ir));
  }
  std::vector<int> batch, lonly, contr, ronly;
  for (int lab : l.labels) {
    if (!contains(r.labels, lab))
      lonly.push_back(lab);
    else
      (needed(lab) ? batch : contr).push_back(lab);
  }
  for (int lab : r.labels)
    if (!contains(l.labels, lab)) ronly.push_back(lab);
  auto perm_of = [](const Operand& op, std::initializer_list<const std::vector<int>*> parts) {
    std::vector<int> perm;
    for (const auto* p : parts)
      for (int lab : *p)
        perm.push_back(static_cast<int>(std::find(op.labels.begin(), op.labels.end(), lab) -
                                        op.labels.begin()));
    return perm;
  };
  std::vector<int> gl(batch.size(), 1), gr(batch.size(), 1);
  gl.push_back(static_cast<int>(lonly.size()));
  gl.push_back(static_cast<int>(contr.size()));
  gr.push_back(static_cast<int>(contr.size()));
  gr.push_back(static_cast<int>(ronly.size()));
  Tensor L = merge_axes(transpose(l.t, perm_of(l, {&batch, &lonly, &contr})), gl);
  Tensor R = merge_axes(transpose(r.t, perm_of(r, {&batch, &contr, &ronly})), gr);
  Tensor prod = matmul(L, R);
  Operand out;
  Shape shape(prod.shape().begin(), prod.shape().begin() + static_cast<long>(batch.size()));
  auto size_of_label = [](const Operand& op, int lab) {
    return op.t.shape()[std::find(op.labels.begin(), op.labels.end(), lab) - op.labels.begin()];
  };
  for (int lab : lonly) shape.push_back(size_of_label(l, lab));
  for (int lab : ronly) shape.push_back(size_of_label(r, lab));
  out.t = reshape(prod, shape);
  out.labels = batch;
  out.labels.insert(out.labels.end(), lonly.begin(), lonly.end());
  out.labels.insert(out.labels.end(), ronly.begin(), ronly.end());
  return out;
}

// Takes the diagonal of repeated labels (a strided view) so each label names one axis.
Operand diagonal(const Tensor& t, const std::vector<int>& labels) {
  Operand op;
  Shape shape;
  Strides strides;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    auto it = std::find(op.labels.begin(), op.labels.end(), labels[i]);
    if (it == op.labels.end()) {
      op.labels.push_back(labels[i]);
      shape.push_back(t.shape()[i]);
      strides.push_back(t.strides()[i]);
      continue;
    }
    auto j = it - op.labels.begin();
    if (shape[j] != t.shape()[i]) {
      EMILY_THROW(ShapeError, "einsum", "repeated label '", label_name(labels[i]), "' has sizes ",
                  shape[j], " and ", t.shape()[i], " in one operand");
    }
    strides[j] += t.strides()[i];
  }
  op.t = op.labels.size() == labels.size() ? t : as_strided(t, shape, strides, t.offset());
  return op;
}

}  // namespace

Tensor einsum(const std::string& subscripts, const std::vector<Tensor>& operands) {
  if (operands.empty()) EMILY_THROW(ValueError, "einsum", "needs at least one operand");
  for (const auto& t : operands) require_defined("einsum", t);
  std::string s;
  for (char c : subscripts)
    if (c != ' ') s += c;
  const auto arrow = s.find("->");
  if (arrow != std::string::npos && s.find("->", arrow + 2) != std::string::npos) {
    EMILY_THROW(ValueError, "einsum", "more than one \"->\" in \"", subscripts, "\"");
  }
  const std::string lhs = s.substr(0, arrow);
  std::vector<std::vector<int>> terms;
  for (std::size_t start = 0;;) {
    std::size_t comma = lhs.find(',', start);
    terms.push_back(parse_term(lhs.substr(start, comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != operands.size()) {
    EMILY_THROW(ValueError, "einsum", "\"", subscripts, "\" has ", terms.size(),
                " operand terms for ", operands.size(), " operands");
  }

  // Expand "..." into broadcast labels and find every label's size.
  int ell_dims = 0;
  for (std::size_t k = 0; k < terms.size(); ++k) {
    const int letters = static_cast<int>(
        std::count_if(terms[k].begin(), terms[k].end(), [](int id) { return id >= 0; }));
    const bool ell = contains(terms[k], kEllMarker);
    const int nd = operands[k].ndim();
    if (ell ? nd < letters : nd != letters) {
      EMILY_THROW(ValueError, "einsum", "operand ", k, " has ", nd, " axes but its term names ",
                  letters, ell ? " or more" : "");
    }
    if (ell) ell_dims = std::max(ell_dims, nd - letters);
  }
  std::vector<std::int64_t> size(static_cast<std::size_t>(kEll + ell_dims), -1);
  std::vector<int> count(static_cast<std::size_t>(kEll + ell_dims), 0);
  std::vector<std::vector<int>> labels(terms.size());
  for (std::size_t k = 0; k < terms.size(); ++k) {
    const int nd = operands[k].ndim();
    const int e = nd - static_cast<int>(terms[k].size()) + (contains(terms[k], kEllMarker) ? 1 : 0);
    for (int id : terms[k]) {
      if (id == kEllMarker) {
        for (int j = 0; j < e; ++j) labels[k].push_back(kEll + ell_dims - e + j);
      } else {
        labels[k].push_back(id);
      }
    }
    for (int i = 0; i < nd; ++i) {
      const int id = labels[k][i];
      const std::int64_t n = operands[k].shape()[i];
      ++count[id];
      if (size[id] < 0 || size[id] == 1) {
        size[id] = n;  // a size-1 axis broadcasts against any size, 0 included
      } else if (n != size[id] && n != 1) {
        EMILY_THROW(ShapeError, "einsum", "label '", label_name(id), "' has size ", n,
                    " in operand ", k, " but ", size[id], " elsewhere");
      }
    }
  }

  std::vector<int> output;
  if (arrow == std::string::npos) {
    // Implicit output: the broadcast axes, then the labels used once, in ASCII order.
    for (int j = 0; j < ell_dims; ++j) output.push_back(kEll + j);
    for (int id = 0; id < kLetters; ++id)
      if (count[id] == 1) output.push_back(id);
  } else {
    for (int id : parse_term(s.substr(arrow + 2))) {
      if (id == kEllMarker) {
        for (int j = 0; j < ell_dims; ++j) output.push_back(kEll + j);
        continue;
      }
      if (count[id] == 0) {
        EMILY_THROW(ValueError, "einsum", "output label '", label_char(id),
                    "' appears in no operand");
      }
      if (contains(output, id)) {
        EMILY_THROW(ValueError, "einsum", "output label '", label_char(id), "' is repeated");
      }
      output.push_back(id);
    }
    if (ell_dims > 0 && !contains(output, kEll)) {
      EMILY_THROW(ValueError, "einsum", "the operands' \"...\" axes need a \"...\" in the output");
    }
  }

  DType dtype = operands.front().dtype();
  for (const auto& t : operands) dtype = promote(dtype, t.dtype());
  std::vector<Operand> ops;
  for (std::size_t k = 0; k < operands.size(); ++k)
    ops.push_back(diagonal(astype(operands[k], dtype), labels[k]));

  // Left to right: before contracting with operand k, a label survives if the output
  // or an operand after k still uses it.
  auto needed_after = [&](std::size_t k) {
    return [&, k](int id) {
      if (contains(output, id)) return true;
      for (std::size_t j = k + 1; j < ops.size(); ++j)
        if (contains(ops[j].labels, id)) return true;
      return false;
    };
  };
  Operand cur = std::move(ops[0]);
  sum_out(cur, needed_after(0));
  for (std::size_t k = 1; k < ops.size(); ++k) {
    Operand& r = ops[k];
    auto later = needed_after(k);
    sum_out(r, [&](int id) { return later(id) || contains(cur.labels, id); });
    sum_out(cur, [&](int id) { return later(id) || contains(r.labels, id); });
    cur = contract(std::move(cur), std::move(r), later);
  }
  std::vector<int> perm;
  for (int id : output)
    perm.push_back(
        static_cast<int>(std::find(cur.labels.begin(), cur.labels.end(), id) - cur.labels.begin()));
  return transpose(cur.t, perm);
}

}  // namespace emily
