// A short tour of the tensor API; `make demo` runs it and README.md quotes it.
#include <iostream>

#include "emily/emily.h"

int main() {
  using namespace emily;
  try {
    std::cout << "device: " << to_string(default_device()) << "\n\n";

    Tensor a = tensor<float>({1, 2, 3, 4}, {2, 2});  // values and a shape
    Tensor b = tensor<float>({5, 6}, {2, 1});
    std::cout << "a =\n" << a << "\n";
    std::cout << "a @ b =\n" << matmul(a, b) << "\n";  // [[17], [39]]

    Tensor x = arange(-3, 3, 1, DType::f32);
    std::cout << "x = " << x << "\n";
    std::cout << "gelu(x) = " << gelu(x) << "\n";
    std::cout << "softmax(x * 0.5) = " << softmax(x * 0.5) << "\n";
    std::cout << "sum(x * x) = " << sum(x * x).item<float>() << "\n";  // 19

    Tensor m = reshape(arange(12), {3, 4});  // s64
    std::cout << "\nm = " << m << "\n";
    // A view: transpose and strided slice share m's storage.
    std::cout << "m.T[1:, ::2] = " << slice(transpose(m), {1, 0}, {4, 3}, {1, 2}) << "\n";
    std::cout << "argmax(m, 1) = " << argmax(m, 1) << "\n";

    Tensor keys = random::split(random::key(42), 2);  // shape (2, 2): one key per row
    Tensor k1 = reshape(slice(keys, {0, 0}, {1, 2}), {2});
    std::cout << "\nnormal(k1, (2, 3), bf16) = " << random::normal(k1, {2, 3}, DType::bf16) << "\n";

    // Errors name the op first.
    try {
      matmul(a, tensor<float>({1, 2, 3}, {3}));
    } catch (const ShapeError& e) {
      std::cout << "\nShapeError: " << e.what() << "\n";
    }

    // Telemetry: a handler sees every eager primitive with its duration and metadata.
    auto id = telemetry::attach("emily.eval.stop", [](const telemetry::Event& e) {
      std::cout << "  eval " << *e.find("op") << " " << *e.find("shapes") << " " << e.duration_ns
                << " ns\n";
    });
    std::cout << "\ntelemetry for silu(x):\n";
    silu(x);
    telemetry::detach(id);

    auto mem = memory_info();
    std::cout << "\nmemory: active " << mem.active << " B, peak " << mem.peak << " B, cache "
              << mem.cache << " B\n";
    return 0;
  } catch (const Error& e) {
    std::cerr << "tour: " << e.what() << "\n";
    return 1;
  }
}
