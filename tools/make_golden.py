#!/usr/bin/env python3
"""Build small random Llama models with transformers and write golden files for strand's CPU tests.

Usage (from the repository root, on a machine with torch, transformers and safetensors):

    python3 tools/make_golden.py --out DIR [--data tests/data/ecoli_k12_excerpt.fa]

For every model in MODELS this writes DIR/<name>.safetensors holding

    input_ids            int32   [T]      three E. coli windows, tokenised and packed
    cu_seqlens           int32   [n+1]    0, 40, 57, 121
    logits               float32 [T, V]   each sequence run on its own, concatenated in packed order
    loss                 float64 []       next-token cross-entropy pooled over all sequences
    param.<hf name>      float32          every entry of model.named_parameters()
    grad.<hf name>       float32          d loss / d param
    rope.inv_freq        float64 [D/2]    the inverse frequencies transformers stores (computed in float32)
    rope.inv_freq_fp64   float64 [D/2]    the same frequencies computed in float64 (used for the golden values)
    rope.attention_scaling float64 []     the cos/sin scale of the rotary embedding

and string metadata: config (a config.json), loss (repr), reference, sequence_lengths, numerics, seed, windows,
hf_native_max_rel_diff.

The model runs in float64 on the CPU. transformers' Llama evaluates RMSNorm, the attention softmax and the rotary
cos/sin in float32 even in a float64 model; for the golden values those three are recomputed in float64 with the
same formulas (see Float64Numerics), so the files are exact to float64 rounding. The plain transformers forward is
run as well and must agree to float32 rounding, which checks that the float64 versions compute the same function.

The helpers above main() need only numpy, so tools/check_hf_export.py imports them without loading torch.
"""

import argparse
import json
import math
import os
import sys

import numpy as np

BOS_ID = 2
EOS_ID = 0
PAD_ID = 1

# (offset, length) of the windows cut from the E. coli excerpt; each gives length + 2 tokens.
WINDOWS = ((113, 38), (777, 15), (1291, 62))

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join("tests", "data", "ecoli_k12_excerpt.fa")

# Largest relative difference allowed between the plain transformers forward (float32 internals) and the
# float64 one. Float32 rounding gives about 1e-7..1e-6; anything near this bound means the float64
# replacements compute something else.
NATIVE_AGREEMENT_TOL = 1e-4

MODELS = {
    "llama_gqa": {
        "seed": 20240601,
        "config": {
            "vocab_size": 256,
            "hidden_size": 64,
            "intermediate_size": 160,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 16,
            "rms_norm_eps": 1e-5,
            "tie_word_embeddings": False,
            "max_position_embeddings": 512,
            "rope_parameters": {
                "rope_type": "llama3",
                "rope_theta": 500000.0,
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 64,
            },
            "bos_token_id": BOS_ID,
            "eos_token_id": EOS_ID,
            "pad_token_id": PAD_ID,
            "hidden_act": "silu",
            "attention_bias": False,
            "mlp_bias": False,
            "initializer_range": 0.02,
        },
    },
    "llama_tied": {
        "seed": 20240602,
        "config": {
            "vocab_size": 256,
            "hidden_size": 48,
            "intermediate_size": 96,
            "num_hidden_layers": 2,
            "num_attention_heads": 3,
            "num_key_value_heads": 3,
            "head_dim": 16,
            "rms_norm_eps": 1e-6,
            "tie_word_embeddings": True,
            "max_position_embeddings": 512,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
            "bos_token_id": BOS_ID,
            "eos_token_id": EOS_ID,
            "pad_token_id": PAD_ID,
            "hidden_act": "silu",
            "attention_bias": False,
            "mlp_bias": False,
            "initializer_range": 0.02,
        },
    },
}


# ---------------------------------------------------------------------------------------------------------------
# numpy-only helpers (shared with check_hf_export.py)


def resolve_data_path(path):
    """A path as given, or relative to the repository root when it does not exist from here."""
    if os.path.exists(path) or os.path.isabs(path):
        return path
    candidate = os.path.join(REPO_ROOT, path)
    return candidate if os.path.exists(candidate) else path


def read_fasta(path):
    """The sequence of the first record of a FASTA file, upper case, checked to be ACGT only."""
    seq = []
    seen_header = False
    with open(path, "r", encoding="ascii") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith(">"):
                if seen_header:
                    break
                seen_header = True
                continue
            seq.append(line.upper())
    text = "".join(seq)
    if not text:
        raise ValueError(f"{path}: no sequence found")
    bad = set(text) - set("ACGT")
    if bad:
        raise ValueError(f"{path}: unexpected characters {sorted(bad)}")
    return text


def tokenize(window):
    """Nucleotide tokenizer: BOS, one byte-valued token per base, EOS."""
    return [BOS_ID] + [ord(c) for c in window] + [EOS_ID]


def make_batch(sequence, windows=WINDOWS):
    """Packed token ids (int32 [T]), cu_seqlens (int32 [n+1]) and the per-sequence token counts."""
    ids = []
    cu = [0]
    for offset, length in windows:
        if offset < 0 or offset + length > len(sequence):
            raise ValueError(f"window ({offset}, {length}) is outside a sequence of {len(sequence)} bases")
        toks = tokenize(sequence[offset:offset + length])
        ids.extend(toks)
        cu.append(cu[-1] + len(toks))
    lengths = [cu[i + 1] - cu[i] for i in range(len(windows))]
    return np.asarray(ids, dtype=np.int32), np.asarray(cu, dtype=np.int32), lengths


def check_cu_seqlens(cu, total):
    cu = np.asarray(cu)
    if cu.ndim != 1 or cu.size < 2:
        raise ValueError(f"cu_seqlens must be 1-D with at least 2 entries, got shape {cu.shape}")
    if cu[0] != 0 or cu[-1] != total:
        raise ValueError(f"cu_seqlens must run from 0 to {total}, got {cu.tolist()}")
    if np.any(np.diff(cu) <= 0):
        raise ValueError(f"cu_seqlens must be strictly increasing, got {cu.tolist()}")


def pooled_next_token_ce(logits, ids, cu):
    """Mean next-token cross-entropy over all predicted tokens of all sequences (float64).

    Within each sequence position t predicts token t+1; the last token of a sequence predicts nothing, so
    the count is T - n.
    """
    logits = np.asarray(logits, dtype=np.float64)
    ids = np.asarray(ids, dtype=np.int64)
    total = 0.0
    count = 0
    for s, e in zip(np.asarray(cu[:-1]).tolist(), np.asarray(cu[1:]).tolist()):
        if e - s < 2:
            continue
        x = logits[s:e - 1]
        y = ids[s + 1:e]
        m = x.max(axis=1)
        lse = m + np.log(np.exp(x - m[:, None]).sum(axis=1))
        total += float((lse - x[np.arange(y.size), y]).sum())
        count += e - s - 1
    if count == 0:
        raise ValueError("no predicted tokens")
    return total / count


def rope_inv_freq_fp64(rope_parameters, head_dim):
    """Rotary inverse frequencies in float64, for the 'default' and 'llama3' rope types.

    llama3: frequencies whose wavelength is longer than original_max_position_embeddings / low_freq_factor are
    divided by factor, those shorter than original_max_position_embeddings / high_freq_factor are kept, and the
    ones between are blended with smooth = (original_max_position_embeddings / wavelength - low_freq_factor)
    / (high_freq_factor - low_freq_factor).
    """
    rope_type = rope_parameters.get("rope_type", rope_parameters.get("type", "default"))
    theta = float(rope_parameters["rope_theta"])
    partial = float(rope_parameters.get("partial_rotary_factor", 1.0) or 1.0)
    dim = int(head_dim * partial)
    inv = 1.0 / theta ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    if rope_type == "default":
        return inv
    if rope_type == "llama3":
        factor = float(rope_parameters["factor"])
        low = float(rope_parameters["low_freq_factor"])
        high = float(rope_parameters["high_freq_factor"])
        old_ctx = float(rope_parameters["original_max_position_embeddings"])
        low_freq_wavelen = old_ctx / low
        high_freq_wavelen = old_ctx / high
        wavelen = 2.0 * math.pi / inv
        scaled = np.where(wavelen > low_freq_wavelen, inv / factor, inv)
        smooth = (old_ctx / wavelen - low) / (high - low)
        smoothed = (1.0 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
        return np.where(medium, smoothed, scaled)
    raise NotImplementedError(f"rope_type {rope_type!r} is not supported here")


# ---------------------------------------------------------------------------------------------------------------
# torch / transformers part


class Float64Numerics:
    """Recompute, in float64, the three places where transformers' Llama drops to float32.

    - RMSNorm: transformers casts the input to float32; here y = w * x * rsqrt(mean(x^2) + eps) in the input dtype.
    - eager attention: transformers takes the softmax in float32; here scores, mask, softmax and the weighted sum
      stay in the input dtype. Patched through the module-level eager_attention_forward of modeling_llama, which
      LlamaAttention looks up at call time.
    - rotary embedding: transformers builds inv_freq and cos/sin in float32; here cos/sin come from the float64
      inverse frequencies (checked against transformers' own to float32 rounding).

    Every replacement counts its calls, so a replacement that transformers no longer routes through shows up as a
    zero count instead of silently changing nothing.
    """

    def __init__(self, model, modeling_module, inv_freq64, attention_scaling):
        import torch

        self.torch = torch
        self.model = model
        self.mod = modeling_module
        self.inv_freq64 = torch.as_tensor(inv_freq64, dtype=torch.float64)
        self.attention_scaling = float(attention_scaling)
        self.calls = {"rmsnorm": 0, "attention": 0, "rope": 0}
        self._patched_modules = []
        self._saved_attention = None

    # RMSNorm ----------------------------------------------------------------------------------------------------
    def _rmsnorm_forward(self, module):
        torch = self.torch
        eps = getattr(module, "variance_epsilon", None)
        if eps is None:
            eps = getattr(module, "eps", None)
        if eps is None:
            raise RuntimeError(f"cannot find the epsilon of {type(module).__name__}")
        eps = float(eps)

        def forward(hidden_states, *args, **kwargs):
            self.calls["rmsnorm"] += 1
            variance = hidden_states.pow(2).mean(-1, keepdim=True)
            return module.weight * (hidden_states * torch.rsqrt(variance + eps))

        return forward

    # attention --------------------------------------------------------------------------------------------------
    def _attention(self, module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        torch = self.torch
        self.calls["attention"] += 1
        if scaling is None:
            scaling = query.shape[-1] ** -0.5
        n_rep = query.shape[1] // key.shape[1]
        if n_rep > 1:
            # key/value head j serves query heads j*n_rep .. j*n_rep + n_rep - 1
            key = key.repeat_interleave(n_rep, dim=1)
            value = value.repeat_interleave(n_rep, dim=1)
        scores = torch.matmul(query, key.transpose(2, 3)) * scaling
        q_len, k_len = scores.shape[-2], scores.shape[-1]
        if attention_mask is not None:
            mask = attention_mask[:, :, :, :k_len]
            if mask.dtype == torch.bool:
                scores = scores.masked_fill(~mask, float("-inf"))
            else:
                scores = scores + mask.to(scores.dtype)
        else:
            causal = torch.ones(q_len, k_len, dtype=torch.bool, device=scores.device).tril(k_len - q_len)
            scores = scores.masked_fill(~causal, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        if dropout and module.training:
            probs = torch.nn.functional.dropout(probs, p=dropout, training=True)
        out = torch.matmul(probs, value).transpose(1, 2).contiguous()
        return out, probs

    # rotary -----------------------------------------------------------------------------------------------------
    def _rope_forward(self, x, position_ids=None, *args, **kwargs):
        torch = self.torch
        self.calls["rope"] += 1
        if position_ids is None:
            raise RuntimeError("rotary embedding called without position_ids")
        pos = position_ids.to(torch.float64)
        freqs = pos[..., None] * self.inv_freq64.to(pos.device)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = emb.cos() * self.attention_scaling
        sin = emb.sin() * self.attention_scaling
        return cos.to(dtype=x.dtype), sin.to(dtype=x.dtype)

    def __enter__(self):
        for _, m in self.model.named_modules():
            if type(m).__name__.endswith("RMSNorm") and getattr(m, "weight", None) is not None:
                m.forward = self._rmsnorm_forward(m)
                self._patched_modules.append(m)
        rot = find_rotary(self.model)
        rot.forward = self._rope_forward
        self._patched_modules.append(rot)
        self._saved_attention = getattr(self.mod, "eager_attention_forward", None)
        self.mod.eager_attention_forward = self._attention
        return self

    def __exit__(self, *exc):
        for m in self._patched_modules:
            m.__dict__.pop("forward", None)
        self._patched_modules = []
        if self._saved_attention is not None:
            self.mod.eager_attention_forward = self._saved_attention
        return False

    def describe(self):
        parts = []
        names = {"rmsnorm": "RMSNorm", "attention": "softmax", "rope": "RoPE cos/sin"}
        for k in ("rmsnorm", "attention", "rope"):
            state = "float64" if self.calls[k] > 0 else "float32 (transformers' own; replacement not reached)"
            parts.append(f"{names[k]} {state}")
        return "; ".join(parts)


def find_rotary(model):
    """The model's one rotary-embedding module (model.model.rotary_emb in current transformers)."""
    rot = getattr(getattr(model, "model", None), "rotary_emb", None)
    if rot is not None:
        return rot
    found = [m for _, m in model.named_modules() if type(m).__name__.endswith("RotaryEmbedding")]
    if len(found) != 1:
        raise RuntimeError(f"expected one rotary embedding module, found {len(found)}")
    return found[0]


def run_sequences(model, ids, cu, torch):
    """Logits [T, V] of every sequence run on its own (batch 1, no padding), concatenated in packed order."""
    out = []
    for s, e in zip(cu[:-1].tolist(), cu[1:].tolist()):
        x = torch.as_tensor(ids[s:e], dtype=torch.long).unsqueeze(0)
        logits = model(input_ids=x, use_cache=False).logits
        out.append(logits[0])
    return torch.cat(out, dim=0)


def config_json(model):
    """The model's config as the dict save_pretrained would write to config.json."""
    cfg = model.config
    cfg.architectures = [type(model).__name__]
    try:
        text = cfg.to_json_string(use_diff=True)
    except Exception as err:  # pragma: no cover - fall back to the full dict
        print(f"warning: to_json_string(use_diff=True) failed ({err}); writing the full config", file=sys.stderr)
        text = json.dumps(cfg.to_dict(), default=str)
    return json.loads(text)


def build_model(name, spec, torch, transformers):
    cfg_kwargs = dict(spec["config"])
    cfg_kwargs["rope_parameters"] = dict(cfg_kwargs["rope_parameters"])
    try:
        config = transformers.LlamaConfig(attn_implementation="eager", **cfg_kwargs)
    except TypeError as err:
        print(f"note: LlamaConfig(attn_implementation=...) failed ({err}); setting it afterwards", file=sys.stderr)
        config = transformers.LlamaConfig(**cfg_kwargs)
    if getattr(config, "_attn_implementation", None) != "eager":
        config._attn_implementation = "eager"

    torch.manual_seed(spec["seed"])
    model = transformers.LlamaForCausalLM(config)
    impl = getattr(model.config, "_attn_implementation", None)
    if impl != "eager":
        raise RuntimeError(f"{name}: attention implementation is {impl!r}, expected 'eager'")

    # Overwrite every parameter from a private generator: independent of how transformers initialises.
    gen = torch.Generator().manual_seed(spec["seed"])
    with torch.no_grad():
        for pname, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if "norm" in pname:
                p.copy_(1.0 + 0.1 * noise)
            else:
                p.copy_(0.1 * noise)
    # Cast after filling: the float64 parameters hold exactly the float32 values written to the file.
    model = model.to(torch.float64)
    model.eval()

    names = [n for n, _ in model.named_parameters()]
    tied_embed = model.lm_head.weight is model.model.embed_tokens.weight
    if cfg_kwargs["tie_word_embeddings"]:
        assert tied_embed, f"{name}: lm_head.weight is not the embedding although tie_word_embeddings=True"
        assert "lm_head.weight" not in names, f"{name}: tied model lists lm_head.weight separately"
    else:
        assert not tied_embed, f"{name}: lm_head.weight is tied although tie_word_embeddings=False"
        assert "lm_head.weight" in names, f"{name}: untied model has no lm_head.weight"
    for pname, p in model.named_parameters():
        assert p.dtype == torch.float64, f"{name}: {pname} is {p.dtype}"
    return model


def make_one(name, spec, ids_np, cu_np, lengths, out_dir, torch, transformers, modeling_llama, windows_text):
    import safetensors.torch
    import torch.nn.functional as F

    model = build_model(name, spec, torch, transformers)
    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    rope_parameters = dict(cfg.rope_parameters)

    rot = find_rotary(model)
    hf_inv = rot.inv_freq.detach().to(torch.float64).clone()
    scaling = float(getattr(rot, "attention_scaling", 1.0))
    inv64 = rope_inv_freq_fp64(rope_parameters, head_dim)
    if hf_inv.numel() != inv64.size:
        raise RuntimeError(f"{name}: transformers has {hf_inv.numel()} inverse frequencies, expected {inv64.size}")
    inv_rel = float(np.max(np.abs(hf_inv.numpy() - inv64) / inv64))
    if inv_rel > 1e-5:
        raise RuntimeError(f"{name}: float64 inverse frequencies differ from transformers' by {inv_rel:.3e} "
                           f"(rope {rope_parameters}); the rope formula here does not match")

    # 1) transformers as it is (float32 RMSNorm/softmax/rope inside a float64 model)
    with torch.no_grad():
        native = run_sequences(model, ids_np, cu_np, torch)

    # 2) all-float64 forward and backward
    model.zero_grad(set_to_none=True)
    with Float64Numerics(model, modeling_llama, inv64, scaling) as numerics:
        logits = run_sequences(model, ids_np, cu_np, torch)
        ids_t = torch.as_tensor(ids_np, dtype=torch.long)
        parts = []
        count = 0
        for s, e in zip(cu_np[:-1].tolist(), cu_np[1:].tolist()):
            parts.append(F.cross_entropy(logits[s:e - 1], ids_t[s + 1:e], reduction="sum"))
            count += e - s - 1
        loss = torch.stack(parts).sum() / count
        loss.backward()
    numerics_text = numerics.describe()
    for k, v in numerics.calls.items():
        if v == 0:
            print(f"warning: {name}: float64 {k} replacement was not called; {k} ran in float32", file=sys.stderr)

    logits_np = logits.detach().numpy()
    native_np = native.numpy()
    scale = float(np.max(np.abs(native_np)))
    native_rel = float(np.max(np.abs(logits_np - native_np)) / scale)
    if native_rel > NATIVE_AGREEMENT_TOL:
        raise RuntimeError(f"{name}: float64 forward differs from transformers' by {native_rel:.3e} (relative); "
                           "the float64 replacements do not compute the same function")
    loss_value = float(loss.detach())
    loss_np = pooled_next_token_ce(logits_np, ids_np, cu_np)
    if abs(loss_np - loss_value) > 1e-12 * max(1.0, abs(loss_value)):
        raise RuntimeError(f"{name}: torch loss {loss_value!r} and numpy loss {loss_np!r} disagree")

    tensors = {
        "input_ids": torch.as_tensor(ids_np, dtype=torch.int32).contiguous(),
        "cu_seqlens": torch.as_tensor(cu_np, dtype=torch.int32).contiguous(),
        "logits": logits.detach().to(torch.float32).contiguous(),
        "loss": torch.tensor(loss_value, dtype=torch.float64),
        "rope.inv_freq": hf_inv.contiguous(),
        "rope.inv_freq_fp64": torch.as_tensor(inv64, dtype=torch.float64).contiguous(),
        "rope.attention_scaling": torch.tensor(scaling, dtype=torch.float64),
    }
    n_params = 0
    for pname, p in model.named_parameters():
        if p.grad is None:
            raise RuntimeError(f"{name}: no gradient for {pname}")
        tensors["param." + pname] = p.detach().to(torch.float32).contiguous().clone()
        tensors["grad." + pname] = p.grad.detach().to(torch.float32).contiguous().clone()
        n_params += 1

    metadata = {
        "config": json.dumps(config_json(model), indent=2, sort_keys=True),
        "loss": repr(loss_value),
        "reference": f"transformers {transformers.__version__}, torch {torch.__version__}, "
                     f"float64 on CPU, each sequence run separately",
        "sequence_lengths": ",".join(str(n) for n in lengths),
        "numerics": numerics_text,
        "hf_native_max_rel_diff": repr(native_rel),
        "seed": str(spec["seed"]),
        "windows": windows_text,
    }

    path = os.path.join(out_dir, name + ".safetensors")
    safetensors.torch.save_file(tensors, path, metadata=metadata)
    size = os.path.getsize(path)
    T = int(ids_np.size)
    print(f"golden: name={name} T={T} loss={loss_value:.10f} max_abs_logit={scale:.6f} "
          f"param_tensors={n_params} native_rel_diff={native_rel:.2e} bytes={size} path={path}")
    print(f"        numerics: {numerics_text}")
    if size > 1_500_000:
        print(f"warning: {path} is {size} bytes, larger than intended", file=sys.stderr)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--data", default=DEFAULT_DATA, help="FASTA file to cut the windows from")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    args = parser.parse_args(argv)

    import torch
    import transformers
    from transformers.models.llama import modeling_llama

    data = resolve_data_path(args.data)
    sequence = read_fasta(data)
    ids_np, cu_np, lengths = make_batch(sequence)
    windows_text = ",".join(f"{o}:{n}" for o, n in WINDOWS)
    print(f"data: {data} ({len(sequence)} bases) windows={windows_text} tokens={lengths} T={ids_np.size}")
    print(f"versions: transformers {transformers.__version__}, torch {torch.__version__}")

    os.makedirs(args.out, exist_ok=True)
    names = [n for n in args.models.split(",") if n]
    for name in names:
        if name not in MODELS:
            parser.error(f"unknown model {name!r}")
    for name in names:
        make_one(name, MODELS[name], ids_np, cu_np, lengths, args.out, torch, transformers, modeling_llama,
                 windows_text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
