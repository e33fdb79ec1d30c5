#!/usr/bin/env python3
"""Build small random ESM-2 models with transformers and write golden files for strand's tests.

Usage (from the repository root, on a machine with torch, transformers and safetensors):

    python3 tools/make_esm2_golden.py --out DIR [--data tests/data/uniprot_query_excerpt.fa]

For every model in MODELS this writes DIR/<name>.safetensors holding

    input_ids        int32   [T]      three proteins as <cls> residues <eos>, about 15% of residues replaced
                                      (mostly by <mask>, some by another residue), packed
    labels           int32   [T]      the original residue at each replaced position, -100 elsewhere
    cu_seqlens       int32   [n+1]
    logits           float32 [T, V]   each protein run on its own (batch 1, attention_mask of ones)
    loss             float64 []       cross-entropy pooled over the labelled positions
    hidden.<l>       float32 [T, H]   transformers' hidden_states[l], l = 0 .. layers (the last after
                                      emb_layer_norm_after)
    param.<hf name>  float32          every entry of model.named_parameters()
    grad.<hf name>   float32          d loss / d param (the contact head has none: it is not in the loss)
    mm.input_ids     int32   [L]      the first protein unmasked
    mm.scores        float64 [k]      masked-marginal log-odds of the mutations in metadata "mutations":
                                      log p(mut) - log p(wt) at the mutated position, masked alone
    mm.pll           float64 []       pseudo-log-likelihood of mm.input_ids: the sum over residues of
                                      log p(residue) with that residue masked alone

and string metadata: config (a config.json), mutations, loss, reference, sequence_lengths, seed.

The model runs in float64 on the CPU, its rotary cos/sin recomputed in float64 (transformers builds them in
float32).
"""

import argparse
import json
import os
import sys

import numpy as np

from make_golden import config_json, resolve_data_path

# transformers' EsmTokenizer vocabulary for ESM-2 (id order).
VOCAB = ["<cls>", "<pad>", "<eos>", "<unk>", "L", "A", "G", "V", "S", "E", "R", "T", "I", "D", "P", "K", "Q", "N",
         "F", "Y", "M", "H", "W", "C", "X", "B", "U", "Z", "O", ".", "-", "<null_1>", "<mask>"]
CLS, PAD, EOS, MASK = 0, 1, 2, 32
DEFAULT_DATA = os.path.join("tests", "data", "uniprot_query_excerpt.fa")
RECORDS = (0, 3, 6)  # 57, 31 and 118 residues
MUTATIONS = ("C2A", "H4W", "Q10E", "E20K", "L29P", "W55G")

MODELS = {
    "esm2_tiny": {
        "seed": 20261121,
        "config": {
            "vocab_size": 33, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "max_position_embeddings": 1026, "layer_norm_eps": 1e-5,
            "position_embedding_type": "rotary", "token_dropout": True, "emb_layer_norm_before": False,
            "pad_token_id": PAD, "mask_token_id": MASK, "hidden_act": "gelu", "tie_word_embeddings": True,
            "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
        },
    },
    "esm2_untied": {
        "seed": 20261122,
        "config": {
            "vocab_size": 33, "hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 3,
            "num_attention_heads": 3, "max_position_embeddings": 1026, "layer_norm_eps": 1e-5,
            "position_embedding_type": "rotary", "token_dropout": False, "emb_layer_norm_before": False,
            "pad_token_id": PAD, "mask_token_id": MASK, "hidden_act": "gelu", "tie_word_embeddings": False,
            "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
        },
    },
}


def read_proteins(path):
    records, seq = [], None
    with open(path, encoding="ascii") as f:
        for line in f:
            line = line.strip()
            if line.startswith(">"):
                if seq is not None:
                    records.append("".join(seq))
                seq = []
            elif line and seq is not None:
                seq.append(line)
    if seq is not None:
        records.append("".join(seq))
    return records


def tokenize(protein):
    return [CLS] + [VOCAB.index(c) for c in protein] + [EOS]


def masked_batch(proteins, seed):
    """Packed ids with ~15% of residues replaced (80% <mask>, 20% another residue), labels, cu_seqlens."""
    rng = np.random.default_rng(seed)
    ids, labels, cu = [], [], [0]
    for p in proteins:
        toks = tokenize(p)
        lab = [-100] * len(toks)
        for i in range(1, len(toks) - 1):
            if rng.random() < 0.15:
                lab[i] = toks[i]
                toks[i] = MASK if rng.random() < 0.8 else int(rng.integers(4, 24))
        ids.extend(toks)
        labels.extend(lab)
        cu.append(len(ids))
    if sum(1 for v in labels if v != -100) == 0:
        raise RuntimeError("no position was masked")
    return np.asarray(ids, np.int32), np.asarray(labels, np.int32), np.asarray(cu, np.int32)


def build_model(spec, torch, transformers):
    config = transformers.EsmConfig(**spec["config"])
    config._attn_implementation = "eager"
    torch.manual_seed(spec["seed"])
    model = transformers.EsmForMaskedLM(config)
    gen = torch.Generator().manual_seed(spec["seed"])
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            is_norm_scale = ("LayerNorm" in name or "layer_norm" in name) and name.endswith("weight")
            p.copy_(1.0 + 0.1 * noise if is_norm_scale else 0.1 * noise)
    model = model.to(torch.float64)
    # transformers builds the rotary cos/sin in float32 (one table shared by all layers); recompute them in
    # float64 from float64 inverse frequencies. RoPE is relative, so the position offset transformers may use
    # changes nothing.
    rotary = model.esm.rotary_embeddings
    head_dim = config.hidden_size // config.num_attention_heads
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    calls = [0]

    def rope_forward(x, position_ids=None, *args, **kwargs):
        calls[0] += 1
        freqs = position_ids.to(torch.float64)[..., None] * inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)

    rotary.forward = rope_forward
    model.rope_calls = calls
    model.eval()
    tied = model.lm_head.decoder.weight is model.esm.embeddings.word_embeddings.weight
    if tied != spec["config"]["tie_word_embeddings"]:
        raise RuntimeError(f"decoder tied={tied}, config says {spec['config']['tie_word_embeddings']}")
    return model


def run_one(model, ids, torch):
    x = torch.as_tensor(ids, dtype=torch.long).unsqueeze(0)
    return model(input_ids=x, attention_mask=torch.ones_like(x), output_hidden_states=True)


def log_probs_at(model, ids, pos, torch):
    masked = list(ids)
    masked[pos] = MASK
    with torch.no_grad():
        logits = run_one(model, masked, torch).logits[0, pos]
    return torch.log_softmax(logits, dim=-1)


def make_one(name, spec, proteins, out_dir, torch, transformers):
    import safetensors.torch

    model = build_model(spec, torch, transformers)
    ids, labels, cu = masked_batch(proteins, spec["seed"])
    logits, hidden = [], None
    for s, e in zip(cu[:-1].tolist(), cu[1:].tolist()):
        out = run_one(model, ids[s:e], torch)
        logits.append(out.logits[0])
        states = [h[0] for h in out.hidden_states]
        hidden = states if hidden is None else [torch.cat([a, b]) for a, b in zip(hidden, states)]
    logits = torch.cat(logits)
    lab = torch.as_tensor(labels, dtype=torch.long)
    loss = torch.nn.functional.cross_entropy(logits, lab, ignore_index=-100)
    loss.backward()
    if model.rope_calls[0] == 0:
        raise RuntimeError("the float64 rotary table was never used: transformers computes RoPE elsewhere")
    if len(hidden) != model.config.num_hidden_layers + 1:
        raise RuntimeError(f"{len(hidden)} hidden states for {model.config.num_hidden_layers} layers")

    wt = tokenize(proteins[0])
    scores = []
    for m in MUTATIONS:
        wt_aa, pos, mut_aa = m[0], int(m[1:-1]), m[-1]
        if proteins[0][pos - 1] != wt_aa:
            raise RuntimeError(f"{m}: residue {pos} is {proteins[0][pos - 1]}, not {wt_aa}")
        lp = log_probs_at(model, wt, pos, torch)  # <cls> shifts residue i to token i
        scores.append(float(lp[VOCAB.index(mut_aa)] - lp[VOCAB.index(wt_aa)]))
    pll = sum(float(log_probs_at(model, wt, i, torch)[wt[i]]) for i in range(1, len(wt) - 1))

    tensors = {
        "input_ids": torch.as_tensor(ids), "labels": torch.as_tensor(labels), "cu_seqlens": torch.as_tensor(cu),
        "logits": logits.detach().float().contiguous(), "loss": torch.tensor(float(loss), dtype=torch.float64),
        "mm.input_ids": torch.as_tensor(wt, dtype=torch.int32),
        "mm.scores": torch.tensor(scores, dtype=torch.float64), "mm.pll": torch.tensor(pll, dtype=torch.float64),
    }
    for l, h in enumerate(hidden):
        tensors[f"hidden.{l}"] = h.detach().float().contiguous()
    for pname, p in model.named_parameters():
        tensors["param." + pname] = p.detach().float().contiguous().clone()
        if p.grad is not None:
            tensors["grad." + pname] = p.grad.detach().float().contiguous().clone()
        elif "contact_head" not in pname:
            raise RuntimeError(f"{name}: no gradient for {pname}")
    metadata = {
        "config": json.dumps(config_json(model), indent=2, sort_keys=True),
        "mutations": ",".join(MUTATIONS), "loss": repr(float(loss)), "seed": str(spec["seed"]),
        "reference": f"transformers {transformers.__version__}, torch {torch.__version__}, float64 on CPU, "
                     "each protein run separately",
        "sequence_lengths": ",".join(str(int(e - s)) for s, e in zip(cu[:-1], cu[1:])),
    }
    path = os.path.join(out_dir, name + ".safetensors")
    safetensors.torch.save_file(tensors, path, metadata=metadata)
    print(f"golden: name={name} T={ids.size} labelled={int((labels != -100).sum())} loss={float(loss):.10f} "
          f"pll={pll:.6f} bytes={os.path.getsize(path)} path={path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--data", default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    import torch
    import transformers

    records = read_proteins(resolve_data_path(args.data))
    proteins = [records[i] for i in RECORDS]
    print(f"versions: transformers {transformers.__version__}, torch {torch.__version__}; "
          f"proteins of {[len(p) for p in proteins]} residues")
    os.makedirs(args.out, exist_ok=True)
    for name, spec in MODELS.items():
        make_one(name, spec, proteins, args.out, torch, transformers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
