#!/usr/bin/env python3
"""The PyTorch peer for strand's ESM-2 training benchmarks.

transformers' EsmForMaskedLM with SDPA attention, fp32 master weights under bf16 autocast and fused AdamW,
trained with the masked-LM objective (15% of residues selected; 80% <mask>, 10% random, 10% unchanged): the
recipe users run today. Two workloads:

  full      every sequence 1024 tokens (<cls> + 1022 random residues + <eos>), micro-batch --mbs
  uniprot   proteins from a FASTA file (--fasta, e.g. uniprot_20k.fa.gz) truncated to 1024 tokens, --mbs per
            micro-batch, each batch right-padded to its longest protein (eager: dynamic padding, the cheapest
            padded recipe; compile: the longest rounded up to a multiple of 256, so that four shapes compile
            once each); throughput counts real (unpadded) tokens only

Prints one JSON line: tokens/s (real tokens), MFU (model FLOPs per DESIGN.md, bidirectional attention, over
time x 989e12), peak memory.

    python3 bench/torch_esm2_peer.py --workload full --mbs 16 --mode eager
"""

import argparse
import gzip
import json
import random
import time

import torch
from transformers import EsmConfig, EsmForMaskedLM

SHAPES = {
    # layers, hidden, heads, ffn
    "650m": (33, 1280, 20, 5120),
    "8m": (6, 320, 20, 1280),
}
PEAK_BF16_FLOPS = 989e12
VOCAB, CLS, PAD, EOS, MASK = 33, 0, 1, 2, 32
RESIDUES = "LAGVSERTIDPKQNFYMHWCXBUZO.-"


def model_flops(layers, hidden, ffn, lengths):
    """6 x matmul parameters per token (LM head dense + decoder included) + bidirectional attention 12 L H S^2."""
    matmul_params = layers * (4 * hidden * hidden + 2 * hidden * ffn) + hidden * hidden + hidden * VOCAB
    return sum(6 * matmul_params * n + 12 * layers * hidden * n * n for n in lengths)


def read_fasta(path, max_len):
    opener = gzip.open if path.endswith(".gz") else open
    seqs, cur = [], None
    with opener(path, "rt") as f:
        for line in f:
            line = line.strip()
            if line.startswith(">"):
                if cur:
                    seqs.append("".join(cur))
                cur = []
            elif cur is not None:
                cur.append(line)
    if cur:
        seqs.append("".join(cur))
    out = []
    for s in seqs:
        ids = [CLS] + [RESIDUES.index(c) + 4 if c in RESIDUES else 3 for c in s[: max_len - 2]] + [EOS]
        out.append(ids)
    return out


def mask_batch(ids, lengths, gen):
    """HF DataCollatorForLanguageModeling's 80/10/10 masking of the real residues; labels -100 elsewhere."""
    labels = ids.clone()
    special = (ids == CLS) | (ids == EOS) | (ids == PAD)
    prob = torch.full(ids.shape, 0.15, device=ids.device)
    prob.masked_fill_(special, 0.0)
    selected = torch.bernoulli(prob, generator=gen).bool()
    labels[~selected] = -100
    replace = torch.bernoulli(torch.full(ids.shape, 0.8, device=ids.device), generator=gen).bool() & selected
    inputs = ids.clone()
    inputs[replace] = MASK
    rand = torch.bernoulli(torch.full(ids.shape, 0.5, device=ids.device), generator=gen).bool() & selected & ~replace
    inputs[rand] = torch.randint(VOCAB, ids.shape, device=ids.device, generator=gen)[rand]
    return inputs, labels


def batches(workload, mbs, seq, fasta, gen_cpu, pad_multiple):
    """Endless (input_ids [B, S], attention_mask [B, S], real token count) on the GPU."""
    if workload == "full":
        while True:
            ids = torch.randint(4, 24, (mbs, seq), generator=gen_cpu)
            ids[:, 0], ids[:, -1] = CLS, EOS
            yield ids.cuda(), torch.ones_like(ids).cuda(), [seq] * mbs
    proteins = read_fasta(fasta, seq)
    rng = random.Random(0)
    while True:
        rng.shuffle(proteins)
        for i in range(0, len(proteins) - mbs + 1, mbs):
            group = proteins[i: i + mbs]
            width = -(-max(len(p) for p in group) // pad_multiple) * pad_multiple
            ids = torch.full((mbs, width), PAD, dtype=torch.long)
            mask = torch.zeros((mbs, width), dtype=torch.long)
            for r, p in enumerate(group):
                ids[r, : len(p)] = torch.tensor(p)
                mask[r, : len(p)] = 1
            yield ids.cuda(), mask.cuda(), [len(p) for p in group]


def run(shape, workload, mbs, seq, mode, steps, warmup, fasta):
    layers, hidden, heads, ffn = SHAPES[shape]
    config = EsmConfig(vocab_size=VOCAB, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                       intermediate_size=ffn, max_position_embeddings=1026, position_embedding_type="rotary",
                       token_dropout=True, pad_token_id=PAD, mask_token_id=MASK, hidden_dropout_prob=0.0,
                       attention_probs_dropout_prob=0.0, layer_norm_eps=1e-5, attn_implementation="sdpa")
    torch.manual_seed(0)
    model = EsmForMaskedLM(config).cuda()
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-4, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.01,
                                  fused=True)
    fn = torch.compile(model) if mode == "compile" else model
    gen = torch.Generator(device="cuda").manual_seed(1)
    source = batches(workload, mbs, seq, fasta, torch.Generator().manual_seed(2), 256 if mode == "compile" else 1)

    def step():
        ids, attention, lengths = next(source)
        inputs, labels = mask_batch(ids, lengths, gen)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = fn(input_ids=inputs, attention_mask=attention, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss, lengths

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    all_lengths = []
    start.record()
    for _ in range(steps):
        loss, lengths = step()
        all_lengths.extend(lengths)
    end.record()
    torch.cuda.synchronize()
    seconds = start.elapsed_time(end) / 1e3
    tokens = sum(all_lengths)
    return {
        "shape": shape, "workload": workload, "mbs": mbs, "seq": seq, "mode": mode, "steps": steps,
        "tokens_per_s": round(tokens / seconds, 1),
        "mfu": round(model_flops(layers, hidden, ffn, all_lengths) / seconds / PEAK_BF16_FLOPS, 4),
        "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
        "step_s": round(seconds / steps, 4), "loss": float(loss.detach()),
        "torch": torch.__version__, "gpu": torch.cuda.get_device_name(),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", choices=sorted(SHAPES), default="650m")
    p.add_argument("--workload", choices=["full", "uniprot"], default="full")
    p.add_argument("--fasta", help="protein FASTA (.gz) for --workload uniprot")
    p.add_argument("--mbs", type=int, default=16)
    p.add_argument("--seq", type=int, default=1024)
    p.add_argument("--mode", choices=["eager", "compile"], default="eager")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args()
    if args.workload == "uniprot" and not args.fasta:
        p.error("--workload uniprot needs --fasta")
    t0 = time.time()
    result = run(args.shape, args.workload, args.mbs, args.seq, args.mode, args.steps, args.warmup, args.fasta)
    result["wall_s"] = round(time.time() - t0, 1)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
