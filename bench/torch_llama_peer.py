#!/usr/bin/env python3
"""The PyTorch peer for strand's Llama training benchmarks.

transformers' LlamaForCausalLM with SDPA attention, fp32 master weights under bf16 autocast and fused AdamW,
trained on random tokens: the recipe users run today. Prints one JSON line per (shape, micro-batch, mode) with
tokens/s, MFU (model FLOPs per DESIGN.md over time x 989e12) and peak memory.

    python3 bench/torch_llama_peer.py --shape 150m --mbs 2 --mode eager
"""

import argparse
import json
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


def run(shape, mbs, seq, mode, steps, warmup):
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
    return {
        "shape": shape, "mbs": mbs, "seq": seq, "mode": mode, "steps": steps,
        "tokens_per_s": round(tokens_per_s, 1),
        "mfu": round(tokens_per_s * flops / PEAK_BF16_FLOPS, 4),
        "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
        "step_s": round(seconds / steps, 4), "loss": float(loss.detach()),
        "torch": torch.__version__, "gpu": torch.cuda.get_device_name(),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", choices=sorted(SHAPES), default="150m")
    p.add_argument("--mbs", type=int, default=2)
    p.add_argument("--seq", type=int, default=8192)
    p.add_argument("--mode", choices=["eager", "compile", "both"], default="eager")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args()
    modes = ["eager", "compile"] if args.mode == "both" else [args.mode]
    for mode in modes:
        t0 = time.time()
        result = run(args.shape, args.mbs, args.seq, mode, args.steps, args.warmup)
        result["wall_s"] = round(time.time() - t0, 1)
        print(json.dumps(result), flush=True)
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
