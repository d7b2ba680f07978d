"""PyTorch baselines for bench/bench_cuda.cpp, run in the same session on the same GPU.

Prints the same quantities: elementwise add over 64M f32 and a device-to-device copy
(bytes read plus written per second, median of CUDA-event timings), and the host time
of one eager 1-element add and of `x * 0.5` (loops of 10,000, synchronized at the end;
`torch_cuda.py eager` prints these alone). `torch_cuda.py matmul` prints the bf16 matmul
and M = 1 GEMV cases alone: each timed one call between events (x1) and ten calls back
to back between events (x10, as bench_cuda's "events" clock), through PyTorch's default
BLAS route and with cuBLASLt preferred, with the kernel each runs (PyTorch's profiler).
"""
import statistics
import sys
import time

import torch


def median_ms(fn, reps=50, warmup=5, calls=1):
    """Median over `reps` of the time per call of `calls` calls between two events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(calls):
            fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) / calls)
    return statistics.median(times)


def kernel_names(fn):
    """The GPU kernels one call of `fn` runs (PyTorch's profiler)."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    names = [e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    return ", ".join(n[:90] for n in names) or "?"


def matmul_cases():
    """bf16 matmul n^3 and the M = 1 GEMV (both weight layouts), default BLAS route and
    cuBLASLt preferred, x1 and x10 event timings."""
    default = torch.backends.cuda.preferred_blas_library()
    print(f"torch preferred BLAS library: {default}")
    for backend in (default, "cublaslt"):
        tag = str(torch.backends.cuda.preferred_blas_library(backend)).split(".")[-1]
        for size in (4096, 8192):
            x = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
            y = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
            fn = lambda: torch.matmul(x, y)  # noqa: E731
            ms1 = median_ms(fn, reps=20)
            ms10 = median_ms(fn, reps=5, calls=10)
            print(f"torch matmul bf16 {size}^3 [{tag}]: x1 {ms1:.3f} ms, {2 * size**3 / ms1 / 1e9:.1f} "
                  f"TFLOP/s; x10 {ms10:.3f} ms, {2 * size**3 / ms10 / 1e9:.1f} TFLOP/s; {kernel_names(fn)}")
        for n in (4096, 8192):
            copies = max(2, (256 << 20) // (n * n * 2))
            ws = [torch.randn(n, n, device="cuda", dtype=torch.bfloat16) for _ in range(copies)]
            x = torch.randn(1, n, device="cuda", dtype=torch.bfloat16)
            for layout in ("x@w", "x@w^T"):
                k = [0]

                def gemv():
                    k[0] += 1
                    w = ws[k[0] % copies]
                    return torch.matmul(x, w if layout == "x@w" else w.t())

                ms1 = median_ms(gemv, reps=100)
                ms10 = median_ms(gemv, reps=20, calls=10)
                print(f"torch gemv bf16 1x{n}x{n} {layout} [{tag}]: x1 {ms1 * 1e3:.1f} us; x10 "
                      f"{ms10 * 1e3:.1f} us, {n * n * 2 / ms10 / 1e9:.3f} TB/s; {kernel_names(gemv)}")
    torch.backends.cuda.preferred_blas_library(default)
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")


def eager():
    """Host time per eager op on a 1-element tensor: torch.add and `x * 0.5`, each loop
    written out (a lambda per call would add Python's call overhead to PyTorch's)."""
    one = torch.ones(1, device="cuda")
    reps = 10000
    for _ in range(1000):
        torch.add(one, one)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        torch.add(one, one)
    torch.cuda.synchronize()
    print(f"torch eager 1-element add: {(time.perf_counter() - start) / reps * 1e6:.2f} us/op")
    for _ in range(1000):
        one * 0.5
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        one * 0.5
    torch.cuda.synchronize()
    print(f"torch eager 1-element x * 0.5: {(time.perf_counter() - start) / reps * 1e6:.2f} us/op")


def main():
    if sys.argv[1:] == ["eager"]:  # the eager overhead alone (bench_cuda's BM_cuda_piece_*)
        eager()
        print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
        return
    if sys.argv[1:] == ["matmul"]:  # bench_cuda's matmul and GEMV cases alone
        matmul_cases()
        return
    n = 1 << 26
    a = torch.randn(n, device="cuda")
    b = torch.randn(n, device="cuda")
    dst = torch.empty_like(a)
    add_ms = median_ms(lambda: torch.add(a, b))
    copy_ms = median_ms(lambda: dst.copy_(a))
    print(f"torch add 64M f32: {add_ms:.3f} ms, {3 * 4 * n / add_ms / 1e9:.3f} TB/s")
    print(f"torch copy 64M f32: {copy_ms:.3f} ms, {2 * 4 * n / copy_ms / 1e9:.3f} TB/s")
    m = torch.randn(8192, 8192, device="cuda")
    sum_ms = median_ms(lambda: m.sum(-1))
    print(f"torch sum last axis 8192x8192 f32: {sum_ms:.3f} ms, {4 * 8192 * 8193 / sum_ms / 1e9:.3f} TB/s")
    for size in (4096, 8192):
        x = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
        y = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
        ms = median_ms(lambda: torch.matmul(x, y), reps=20)
        print(f"torch matmul bf16 {size}^3: {ms:.3f} ms, {2 * size**3 / ms / 1e9:.1f} TFLOP/s")
    eager()
    one = torch.ones(1, device="cuda")
    # A chain of 100 dependent 1-element adds: eager per op, and replayed as a CUDA graph.
    x0 = torch.ones(1, device="cuda")

    def chain():
        x = x0
        for _ in range(100):
            x = torch.add(x, one)
        return x

    for _ in range(10):
        chain()
    torch.cuda.synchronize()
    calls = 200
    start = time.perf_counter()
    for i in range(calls):
        chain()
        if i % 10 == 9:
            torch.cuda.synchronize()
    torch.cuda.synchronize()
    print(f"torch eager chain: {(time.perf_counter() - start) / calls / 100 * 1e6:.2f} us/node")
    graph = torch.cuda.CUDAGraph()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        chain()
    torch.cuda.current_stream().wait_stream(side)
    with torch.cuda.graph(graph):
        chain()
    for _ in range(10):
        graph.replay()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(calls * 5):
        graph.replay()
        if i % 10 == 9:
            torch.cuda.synchronize()
    torch.cuda.synchronize()
    print(f"torch CUDA graph chain: {(time.perf_counter() - start) / (calls * 5) / 100 * 1e6:.2f} us/node")
    # M = 1 bf16 GEMV, weights rotating past the L2 (bytes of the weight per second).
    for n in (4096, 8192):
        copies = max(2, (256 << 20) // (n * n * 2))
        ws = [torch.randn(n, n, device="cuda", dtype=torch.bfloat16) for _ in range(copies)]
        x = torch.randn(1, n, device="cuda", dtype=torch.bfloat16)
        k = [0]

        def gemv():
            k[0] += 1
            return torch.matmul(x, ws[k[0] % copies])

        ms = median_ms(gemv, reps=100)
        print(f"torch gemv bf16 1x{n}x{n}: {ms * 1e3:.1f} us, {n * n * 2 / ms / 1e9:.3f} TB/s")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")


if __name__ == "__main__":
    main()
