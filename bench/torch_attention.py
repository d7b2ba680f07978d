"""PyTorch baselines for bench/bench_fast_cuda.cpp, run in the same device call on the same GPU.

Same shapes and quantities: prefill attention bf16 (batch 4, 16 heads, head size 64/128,
seq 512/2k/8k, causal and not; TFLOP/s counting 4 B H T^2 D, halved when causal) and decode
attention (q = 1, 16 query heads over 8 kv heads, head size 128, kv 1k..32k; GB/s of K and V
read), through torch's scaled_dot_product_attention restricted to the flash backend and to the
cuDNN backend. Calls are captured in a CUDA graph (falling back to eager calls where capture
fails) and times are the median of CUDA-event timings of its replays, so torch's host cost per
call is left out, as Emily's compiled decode row leaves out Emily's. Decode rotates over K/V
copies that together exceed the 50 MB L2, as the Emily benchmark does.
"""
import argparse
import statistics

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION}


MIN_SECONDS = 0.0


def median_ms(fns, reps=20, warmup=3):
    """Median time of one call, fns holding one call per input copy. With --min-time S the
    replays go on for at least S seconds (as Google Benchmark's --benchmark_min_time does),
    so that a long kernel is measured at the clocks the GPU holds under sustained load."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    torch.cuda.synchronize()
    try:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for fn in fns:
                fn()
        step = graph.replay
    except RuntimeError:
        torch.cuda.synchronize()

        def step():
            for fn in fns:
                fn()

    step()
    torch.cuda.synchronize()
    once = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    once[0].record()
    step()
    once[1].record()
    once[1].synchronize()
    reps = max(reps, int(MIN_SECONDS * 1e3 / max(once[0].elapsed_time(once[1]), 1e-3)) + 1)
    times = []
    for _ in range(reps):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) / len(fns))
    return statistics.median(times)


def attention(q, k, v, causal):
    if k.shape[1] != q.shape[1]:
        try:
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
        except RuntimeError:
            # Backends without GQA read K and V repeated per query head.
            groups = q.shape[1] // k.shape[1]
            k, v = k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1)
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def run(label, backend, fns, amount, unit):
    try:
        with sdpa_kernel(BACKENDS[backend]):
            ms = median_ms(fns)
    except RuntimeError as e:
        print(f"{label} {backend}: n/a ({str(e).splitlines()[0][:80]})")
        return
    print(f"{label} {backend}: {ms * 1e3:.1f} us, {amount / ms / 1e9:.1f} {unit}")


def main():
    global MIN_SECONDS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-time", type=float, default=0.0,
                        help="seconds of replays per measurement (default: 20 replays)")
    parser.add_argument("--only", choices=("prefill", "decode"), help="one half of the table")
    args = parser.parse_args()
    MIN_SECONDS = args.min_time
    torch.manual_seed(0)
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}")
    b, h = 4, 16
    for d in (64, 128) if args.only != "decode" else ():
        for t in (512, 2048, 8192):
            q, k, v = (torch.randn(b, h, t, d, device="cuda", dtype=torch.bfloat16) for _ in range(3))
            for causal in (False, True):
                flops = 4 * b * h * t * t * d * (0.5 if causal else 1.0)
                label = f"prefill bf16 hd{d} seq{t} causal{int(causal)}"
                for backend in BACKENDS:
                    # TFLOP/s: flops / ms / 1e9 is GFLOP/ms = TFLOP/s.
                    run(label, backend, [lambda: attention(q, k, v, causal)], flops, "TFLOP/s")
    nq, nkv, d = 16, 8, 128
    for t in (1024, 4096, 8192, 16384, 32768) if args.only != "prefill" else ():
        kv_bytes = 2 * nkv * t * d * 2
        copies = max(2, (256 << 20) // kv_bytes)
        shapes = ((1, nq, 1, d), (1, nkv, t, d), (1, nkv, t, d))
        sets = [[torch.randn(*s, device="cuda", dtype=torch.bfloat16) for s in shapes]
                for _ in range(copies)]
        fns = [lambda s=s: attention(s[0], s[1], s[2], False) for s in sets]
        for backend in BACKENDS:
            # GB/s: bytes / ms / 1e6; amount scaled so run's / 1e9 reads as GB/s.
            run(f"decode bf16 kv{t}", backend, fns, kv_bytes * 1e3, "GB/s")


if __name__ == "__main__":
    main()
