// A short tour of the tensor API; `make demo` runs it.
#include <iostream>

#include "emily/emily.h"

int main() {
  using namespace emily;
  try {
    std::cout << "device: " << to_string(default_device()) << "\n\n";

    Tensor a = tensor<float>({1, 2, 3, 4}, {2, 2});
    Tensor b = tensor<float>({5, 6}, {2, 1});
    std::cout << "a =\n" << a << "\n";
    std::cout << "a @ b =\n" << matmul(a, b) << "\n";  // [[17], [39]]

    Tensor x = arange(-3, 3, 1, DType::f32);
    std::cout << "x = " << x << "\n";
    std::cout << "gelu(x) = " << gelu(x) << "\n";
    std::cout << "softmax(x) = " << softmax(x) << "\n";
    std::cout << "sum(x * x) = " << sum(x * x).item<float>() << "\n";

    Tensor m = reshape(arange(12), {3, 4});
    std::cout << "\nm = " << m << "\n";
    std::cout << "m.T[1:, ::2] = " << slice(transpose(m), {1, 0}, {4, 3}, {1, 2}) << "\n";
    std::cout << "argmax(m, 1) = " << argmax(m, 1) << "\n";

    Tensor k = random::key(42);
    std::cout << "\nnormal(key 42, (2, 3)) = " << random::normal(k, {2, 3}) << "\n";

    auto mem = memory_info();
    std::cout << "\nmemory: active " << mem.active << " B, peak " << mem.peak << " B\n";
    return 0;
  } catch (const Error& e) {
    std::cerr << "tour: " << e.what() << "\n";
    return 1;
  }
}
