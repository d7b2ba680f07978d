"""Transformers' decode speed on Qwen3-0.6B's real configuration with random bf16 weights,
the baseline that bench/results/llm.md sets Emily's decode beside (same machine, same call).

    python3 bench/llm_torch.py --save /tmp/qwen3-0.6b-random   # also writes the model folder
                                                                # Emily's bench_decode reads
Measures batch-1 greedy decode, tokens per second, for Transformers eager (dynamic cache)
and for a static cache with torch.compile. No download: the config is written out here and
the weights are Transformers' own random initialisation under a fixed seed.
"""
import argparse
import json
import time

import torch
from transformers import AutoModelForCausalLM, Qwen3Config

# Qwen/Qwen3-0.6B's config.json (the values that shape the computation).
QWEN3_0_6B = dict(
    vocab_size=151936,
    hidden_size=1024,
    intermediate_size=3072,
    num_hidden_layers=28,
    num_attention_heads=16,
    num_key_value_heads=8,
    head_dim=128,
    max_position_embeddings=40960,
    rms_norm_eps=1e-6,
    rope_theta=1000000.0,
    tie_word_embeddings=True,
    hidden_act="silu",
    attention_bias=False,
    bos_token_id=151643,
    eos_token_id=151645,
)


def decode_rate(model, prompt, new_tokens, **generate_kwargs):
    """Tokens per second of the decode phase: a run of `new_tokens` minus a run of one
    token (which is prefill plus the first token), so prefill is not counted."""

    def run(n):
        torch.cuda.synchronize()
        start = time.perf_counter()
        model.generate(prompt, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                       **generate_kwargs)
        torch.cuda.synchronize()
        return time.perf_counter() - start

    run(new_tokens)  # warm-up (and compilation for the static cache)
    run(new_tokens)
    full = min(run(new_tokens) for _ in range(3))
    one = min(run(1) for _ in range(3))
    return (new_tokens - 1) / (full - one)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--save", help="write config.json + model.safetensors here")
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--skip-compile", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(0)
    config = Qwen3Config(**QWEN3_0_6B)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model = model.to("cuda").eval()
    if args.save:
        model.save_pretrained(args.save, safe_serialization=True)

    prompt = torch.randint(0, config.vocab_size, (1, args.prompt_tokens), device="cuda")
    results = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name()}
    with torch.inference_mode():
        results["transformers_eager_tok_s"] = decode_rate(model, prompt, args.new_tokens)
        print(json.dumps(results), flush=True)
        if not args.skip_compile:
            # A static cache on a GPU makes generate() compile the forward itself
            # (GenerationConfig.compile_config); wrapping it by hand as well fails.
            model.generation_config.cache_implementation = "static"
            results["transformers_static_compile_tok_s"] = decode_rate(
                model, prompt, args.new_tokens)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
