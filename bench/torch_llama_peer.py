#!/usr/bin/env python3
"""The PyTorch peer for strand's Llama training benchmarks.

transformers' LlamaForCausalLM with SDPA attention, fp32 master weights under bf16 autocast and fused AdamW,
trained on random tokens: the recipe users run today. Prints one JSON line per (shape, micro-batch, mode) with
tokens/s, MFU (model FLOPs per DESIGN.md over time x 989e12) and peak memory; with --profile, also the GPU
time per step by kind of kernel (GEMMs, attention, elementwise and norms, optimizer; "other" is the rest of
the timed step, when the GPU waits on the host), from a torch.profiler trace of a few extra steps.

    python3 bench/torch_llama_peer.py --shape 150m --mbs 2 --mode eager [--profile]
"""

import argparse
import json
import os
import tempfile
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

SHAPES = {
    # layers, hidden, heads, kv heads, ffn
    "1b": (16, 2048, 32, 8, 8192),
    "150m": (12, 768, 12, 4, 3072),
}
PEAK_BF16_FLOPS = 989e12


def model_flops_per_token(layers, hidden, heads, kv_heads, ffn, vocab, seq):
    """6 x matmul parameters (LM head included, input embedding excluded) + causal attention 12 L H S / 2."""
    head_dim = hidden // heads
    per_layer = hidden * hidden * 2 + 2 * hidden * kv_heads * head_dim + 3 * hidden * ffn
    matmul_params = layers * per_layer + hidden * vocab
    return 6 * matmul_params + 12 * layers * hidden * seq / 2


# Kernel-name fragments by kind of work; a kernel matching none is elementwise (norms, activations, casts,
# RoPE, the loss, copies). cuBLAS names its Hopper GEMMs nvjet_* or sm90_xmma_*.
KERNEL_KINDS = [
    ("attention", ("flash", "fmha", "sdpa", "attention", "attn")),
    ("optimizer", ("multi_tensor_apply", "adam")),
    ("gemm", ("gemm", "gemv", "nvjet", "xmma", "cutlass", "cublas", "splitk")),
]


def kernel_kind(name):
    lowered = name.lower()
    for kind, fragments in KERNEL_KINDS:
        if any(f in lowered for f in fragments):
            return kind
    return "elementwise"


def profile_breakdown(step, step_s, steps=3):
    """Milliseconds per step by kind of kernel over `steps` profiled steps; other = step_s minus their sum."""
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "trace.json")
        prof.export_chrome_trace(trace)
        events = json.load(open(trace))["traceEvents"]
    ms = {"gemm": 0.0, "attention": 0.0, "elementwise": 0.0, "optimizer": 0.0}
    attention_kernels = {}
    for e in events:
        if e.get("ph") == "X" and e.get("cat") in ("kernel", "gpu_memset", "gpu_memcpy"):
            name = e.get("name", "")
            kind = kernel_kind(name)
            ms[kind] += e["dur"] / 1e3 / steps
            if kind == "attention":
                attention_kernels[name[:80]] = attention_kernels.get(name[:80], 0.0) + e["dur"] / 1e3 / steps
    ms["other"] = step_s * 1e3 - sum(ms.values())
    breakdown = {k: round(v, 2) for k, v in ms.items()}
    # Which attention backend SDPA chose, by the kernels that took the time.
    breakdown["attention_kernels"] = {k: round(v, 2) for k, v in
                                      sorted(attention_kernels.items(), key=lambda kv: -kv[1])[:4]}
    return breakdown


def run(shape, mbs, seq, mode, steps, warmup, profile_steps):
    layers, hidden, heads, kv_heads, ffn = SHAPES[shape]
    config = LlamaConfig(vocab_size=256, hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=seq,
                         tie_word_embeddings=False, attn_implementation="sdpa")
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).cuda()
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    step_fn_model = torch.compile(model) if mode == "compile" else model
    tokens = torch.randint(0, 256, (mbs, seq), device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = step_fn_model(input_ids=tokens, labels=tokens).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(steps):
        loss = step()
    end.record()
    torch.cuda.synchronize()
    seconds = start.elapsed_time(end) / 1e3
    tokens_per_s = mbs * seq * steps / seconds
    flops = model_flops_per_token(layers, hidden, heads, kv_heads, ffn, 256, seq)
    result = {
        "shape": shape, "mbs": mbs, "seq": seq, "mode": mode, "steps": steps,
        "tokens_per_s": round(tokens_per_s, 1),
        "mfu": round(tokens_per_s * flops / PEAK_BF16_FLOPS, 4),
        "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
        "step_s": round(seconds / steps, 4), "loss": float(loss.detach()),
        "torch": torch.__version__, "gpu": torch.cuda.get_device_name(),
    }
    if profile_steps > 0:
        result["breakdown_ms"] = profile_breakdown(step, seconds / steps, profile_steps)
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", choices=sorted(SHAPES), default="150m")
    p.add_argument("--mbs", type=int, default=2)
    p.add_argument("--seq", type=int, default=8192)
    p.add_argument("--mode", choices=["eager", "compile", "both"], default="eager")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--profile", action="store_true", help="add the GPU time per step by kind of kernel")
    args = p.parse_args()
    modes = ["eager", "compile"] if args.mode == "both" else [args.mode]
    for mode in modes:
        t0 = time.time()
        result = run(args.shape, args.mbs, args.seq, mode, args.steps, args.warmup, 3 if args.profile else 0)
        result["wall_s"] = round(time.time() - t0, 1)
        print(json.dumps(result), flush=True)
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
