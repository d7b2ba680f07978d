"""PyTorch baselines for bench/bench_cuda_math.cpp, run in the same session on the same GPU.

The same ops at the same shapes and dtypes; each time is the median of CUDA-event
timings of one call (linalg calls that check for errors synchronise inside, as Emily's do).
"""
import statistics

import torch
import torch.nn.functional as F


def median_us(fn, reps=50, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) * 1e3)
    return statistics.median(times)


def randn(*shape, dtype=torch.float32):
    return torch.randn(*shape, device="cuda").to(dtype)


def main():
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    eye = lambda n, s: torch.eye(n, device="cuda") * s
    cases = {}
    x, w = randn(1, 80, 3000, dtype=torch.float16), randn(384, 80, 3, dtype=torch.float16)
    cases["conv_whisper1_f16"] = lambda x=x, w=w: F.conv1d(x, w, padding=1)
    x, w = randn(1, 384, 3000, dtype=torch.float16), randn(384, 384, 3, dtype=torch.float16)
    cases["conv_whisper2_f16"] = lambda x=x, w=w: F.conv1d(x, w, stride=2, padding=1)
    x, w = randn(32, 3, 224, 224, dtype=torch.bfloat16), randn(768, 3, 16, 16, dtype=torch.bfloat16)
    cases["conv_vit_patches_bf16"] = lambda x=x, w=w: F.conv2d(x, w, stride=16)
    x, w = randn(8, 384, 56, 56), randn(384, 1, 7, 7)
    cases["conv_depthwise7x7_f32"] = lambda x=x, w=w: F.conv2d(x, w, padding=3, groups=384)
    x = randn(3000, 400)
    cases["rfft_stft_3000x400"] = lambda x=x: torch.fft.rfft(x)
    x = randn(1024, 1024).to(torch.complex64)
    cases["fft2_1024"] = lambda x=x: torch.fft.fft2(x)
    b = randn(1024, 1024)
    a = b @ b.T + eye(1024, 1024.0)
    cases["cholesky_1024_f32"] = lambda a=a: torch.linalg.cholesky(a)
    a, b = randn(1024, 1024) + eye(1024, 1024.0), randn(1024, 16)
    cases["solve_1024_f32"] = lambda a=a, b=b: torch.linalg.solve(a, b)
    a = randn(4096, 8, 8) + eye(8, 8.0)
    cases["inv_4096x8x8_f32"] = lambda a=a: torch.linalg.inv(a)
    a = randn(512, 512)
    cases["svd_512_f32"] = lambda a=a: torch.linalg.svd(a, full_matrices=False)
    b = randn(512, 512)
    a = b + b.T
    cases["eigh_512_f32"] = lambda a=a: torch.linalg.eigh(a)
    a = randn(1024, 512)
    cases["qr_1024x512_f32"] = lambda a=a: torch.linalg.qr(a)
    for name, fn in cases.items():
        print(f"torch {name}: {median_us(fn):.1f} us")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")


if __name__ == "__main__":
    main()
