// compile(): trace a function of tensors once per input signature and replay the
// recorded plan on later calls, without the op layer's per-call validation, promotion
// and shape work. Modes (CompileOptions::mode, else EMILY_COMPILE, else native):
//   eager   no trace: every call runs the function.
//   native  replay of the recorded primitives: results are bit-identical to eager.
//   fuse    native, with chains of elementwise primitives of one shape run as single
//           fused kernels (one pass over memory; results within 4 ULP of eager, today
//           bit-identical on the CPU, which computes each step as its own kernel does).
// A function that reads traced data on the host (item, to_host, to_vector, to_blob of an
// input or of a value it computed) has data-dependent control flow and cannot be
// replayed: by default it then runs eagerly on every call, with a telemetry event
// naming the reason (native_fallback = eval), or the call raises (raise).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "emily/tensor.h"
#include "emily/tree.h"

namespace emily {

enum class CompileMode { eager, native, fuse };
enum class NativeFallback { eval, raise };

// "eager", "native" or "fuse"; ValueError naming `what` otherwise.
CompileMode parse_compile_mode(const std::string& text, const char* what = "compile");

struct CompileOptions {
  std::optional<CompileMode> mode;  // unset: EMILY_COMPILE, else native
  NativeFallback native_fallback = NativeFallback::eval;
  std::string name = "fn";  // names the function in telemetry and IR dumps
  // Inputs (leaf numbers, depth first) whose buffers a replay may reuse for results: a
  // result of the same byte size computed after the input's last use is written in place
  // of it, and a scatter or slice_update that is the last use updates it where it lies,
  // so a decode step's KV-cache write costs no allocation and no copy. A donated input's
  // contents are unspecified after the call; keep using only the results. Plans that
  // donate record as CUDA graphs too: give a donated result back as the next call's
  // input (docs/COMPILER.md, Donation).
  std::vector<int> donate;
  // Record a native plan that runs wholly on one GPU as a CUDA graph (one launch per
  // call); false replays it node by node. EMILY_CUDA_GRAPHS=0 turns recording off for
  // every function.
  bool cuda_graphs = true;
};

using TensorFunction = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

class CompiledFunction {
 public:
  std::vector<Tensor> operator()(const std::vector<Tensor>& inputs) const;
  // The IR planned for the signature of `inputs`, as text (traces first if needed);
  // empty in eager mode or when the signature fell back to eager.
  std::string dump(const std::vector<Tensor>& inputs) const;
  CompileMode mode() const;
  std::size_t cached_signatures() const;

  struct State;

 private:
  friend CompiledFunction compile(TensorFunction fn, CompileOptions options);
  friend class CompiledTreeFunction;
  std::shared_ptr<State> state_;
};

CompiledFunction compile(TensorFunction fn, CompileOptions options = {});

// Functions of trees: the argument's structure (list lengths, map names) is part of the
// signature, and the result comes back with the structure the function returned.
using TreeFunction = std::function<Tree(const Tree&)>;

class CompiledTreeFunction {
 public:
  Tree operator()(const Tree& args) const;
  std::string dump(const Tree& args) const;
  CompileMode mode() const { return flat_.mode(); }
  std::size_t cached_signatures() const { return flat_.cached_signatures(); }

  struct State;

 private:
  friend CompiledTreeFunction compile(TreeFunction fn, CompileOptions options);
  CompiledFunction flat_;  // over the leaves
  std::shared_ptr<State> state_;
};

CompiledTreeFunction compile(TreeFunction fn, CompileOptions options = {});

// Control flow that compiles to one node (eagerly: the host loop and branch).
// while_loop: state = body(state) while cond(state), a single 0-d tensor (nonzero is
// true); the body must keep every state tensor's shape and dtype.
std::vector<Tensor> while_loop(const TensorFunction& cond, const TensorFunction& body,
                               std::vector<Tensor> state);
// then_fn(operands) when pred (0-d, nonzero) holds, else else_fn(operands); both branches
// must return the same shapes and dtypes. Only the selected branch runs in a replay.
std::vector<Tensor> cond(const Tensor& pred, const TensorFunction& then_fn,
                         const TensorFunction& else_fn, const std::vector<Tensor>& operands);

}  // namespace emily
