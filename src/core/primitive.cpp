#include "emily/primitive.h"

#include <array>
#include <sstream>

namespace emily {

namespace {
// The position of A among Attr's alternatives, found without constructing a variant
// (clang 14 cannot evaluate libstdc++'s variant constructor in a constant expression).
template <class A, class... Ts>
constexpr std::size_t index_among(const std::variant<Ts...>*) {
  constexpr bool same[] = {std::is_same_v<A, Ts>...};
  std::size_t i = 0;
  while (i < sizeof...(Ts) && !same[i]) ++i;
  return i;
}
template <class A>
constexpr std::size_t attr_index() {
  return index_among<A>(static_cast<const Attr*>(nullptr));
}

constexpr std::array<PrimitiveInfo, kNumPrimitives> kInfo = {{
#define EMILY_PRIMITIVE_INFO(n, family, arity, attr) \
  {#n, Family::family, arity, attr_index<attr>()},
    EMILY_PRIMITIVES(EMILY_PRIMITIVE_INFO)
#undef EMILY_PRIMITIVE_INFO
}};

template <class T>
void print_list(std::ostream& os, const char* key, const std::vector<T>& v) {
  os << key << "=[";
  for (std::size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << "]";
}
}  // namespace

const PrimitiveInfo& info(Primitive p) {
  return kInfo[static_cast<std::size_t>(p)];
}
std::string_view name(Primitive p) {
  return info(p).name;
}

bool find_primitive(std::string_view n, Primitive& out) {
  for (std::size_t i = 0; i < kNumPrimitives; ++i) {
    if (kInfo[i].name == n) {
      out = static_cast<Primitive>(i);
      return true;
    }
  }
  return false;
}

std::string to_string(const Attr& a) {
  std::ostringstream os;
  struct Printer {
    std::ostream& os;
    void operator()(const NoAttr&) {}
    void operator()(const AxesAttr& x) { print_list(os, "axes", x.axes); }
    void operator()(const AxisAttr& x) { os << "axis=" << x.axis; }
    void operator()(const ArangeAttr& x) { os << "start=" << x.start << ", step=" << x.step; }
    void operator()(const EyeAttr& x) { os << "k=" << x.k; }
    void operator()(const PadAttr& x) {
      print_list(os, "low", x.low);
      print_list(os << ", ", "high", x.high);
      print_list(os << ", ", "interior", x.interior);
    }
    void operator()(const SliceAttr& x) {
      print_list(os, "start", x.start);
      print_list(os << ", ", "step", x.step);
    }
    void operator()(const ShapeAttr& x) { print_list(os, "shape", x.shape); }
    void operator()(const PermAttr& x) { print_list(os, "perm", x.perm); }
    void operator()(const StridedAttr& x) {
      print_list(os, "shape", x.shape);
      print_list(os << ", ", "strides", x.strides);
      os << ", offset=" << x.offset;
    }
    void operator()(const ScanAttr& x) {
      os << "axis=" << x.axis << ", reverse=" << x.reverse << ", inclusive=" << x.inclusive;
    }
    void operator()(const SortAttr& x) {
      os << "axis=" << x.axis << ", descending=" << x.descending;
    }
    void operator()(const ConvAttr& x) {
      print_list(os, "strides", x.strides);
      print_list(os << ", ", "padding_low", x.padding_low);
      print_list(os << ", ", "padding_high", x.padding_high);
      print_list(os << ", ", "kernel_dilation", x.kernel_dilation);
      print_list(os << ", ", "input_dilation", x.input_dilation);
      os << ", feature_groups=" << x.feature_groups << ", batch_groups=" << x.batch_groups;
    }
    void operator()(const WindowAttr& x) {
      print_list(os, "window", x.window);
      print_list(os << ", ", "strides", x.strides);
      print_list(os << ", ", "padding_low", x.padding_low);
      print_list(os << ", ", "padding_high", x.padding_high);
      print_list(os << ", ", "dilation", x.dilation);
    }
    void operator()(const FftAttr& x) { print_list(os, "axes", x.axes); }
    void operator()(const ControlAttr& x) {
      os << "operands=" << x.operands << ", ";
      print_list(os, "free", x.free);
    }
    // "s0=exp(i0), s1=add(s0, i1)->out0, registers=1": i<k> are the node's inputs, s<k>
    // its steps; registers counts the scratch blocks.
    void operator()(const FusedAttr& x) {
      const int inputs = x.inputs;
      for (std::size_t k = 0; k < x.steps.size(); ++k) {
        const FusedStep& st = x.steps[k];
        os << (k ? ", " : "") << 's' << k << '=' << name(st.op);
        if (st.dtype != st.result) os << '<' << name(st.result) << '>';
        os << '(';
        for (std::size_t j = 0; j < st.args.size(); ++j) {
          const int a = st.args[j];
          os << (j ? ", " : "") << (a < inputs ? 'i' : 's') << (a < inputs ? a : a - inputs);
        }
        os << ')';
        if (st.output >= 0) os << "->out" << st.output;
      }
      os << ", registers=" << x.registers;
    }
    void operator()(const LinalgAttr& x) {
      os << "upper=" << x.upper << ", compute_uv=" << x.compute_uv;
    }
    void operator()(const NormAttr& x) {
      os << "eps=" << x.eps << ", has_weight=" << x.has_weight << ", has_bias=" << x.has_bias
         << ", has_residual=" << x.has_residual;
    }
    void operator()(const RopeAttr& x) {
      static constexpr const char* kPositions[] = {"scalar", "batch", "tokens"};
      os << "dims=" << x.dims << ", traditional=" << x.traditional << ", base=" << x.base
         << ", scale=" << x.scale << ", offset=" << x.offset
         << ", positions=" << kPositions[static_cast<int>(x.positions)]
         << ", has_freqs=" << x.has_freqs << ", has_norm=" << x.has_norm
         << ", norm_eps=" << x.norm_eps << ", pair=" << x.pair;
    }
    void operator()(const SdpaAttr& x) {
      static constexpr const char* kMasks[] = {"none", "additive", "boolean", "keys"};
      os << "scale=" << x.scale << ", causal=" << x.causal << ", causal_offset=" << x.causal_offset
         << ", mask=" << kMasks[static_cast<int>(x.mask)] << ", has_sinks=" << x.has_sinks;
    }
    void operator()(const QuantAttr& x) {
      os << "group_size=" << x.group_size << ", bits=" << x.bits << ", transpose=" << x.transpose;
    }
  };
  std::visit(Printer{os}, a);
  return os.str();
}

}  // namespace emily
