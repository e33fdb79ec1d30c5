#!/usr/bin/env python3
"""Check that a strand-exported Hugging Face directory loads in transformers and reproduces strand's logits.

Usage (from the repository root):

    # write the inputs strand's forward runs on: three E. coli windows, tokenised and packed
    python3 tools/check_hf_export.py --make-inputs /tmp/inputs.safetensors [--data tests/data/ecoli_k12_excerpt.fa]
    # or, for a protein (ESM-2) model, three proteins with masked residues and their labels
    python3 tools/check_hf_export.py --make-inputs /tmp/inputs.safetensors --proteins tests/data/uniprot_query_excerpt.fa

    # compare strand's logits with transformers' on the exported directory
    python3 tools/check_hf_export.py --model DIR --strand-logits FILE.safetensors [--tol 1e-4]

FILE (written by `strand forward`) holds input_ids int32 [T], cu_seqlens int32 [n+1], logits float32 [T, V] and
loss float64 [] (and labels int32 [T] for a masked LM). The model is loaded with AutoModelForCausalLM (model_type
esm: AutoModelForMaskedLM) in float64 with eager attention on the CPU; every sequence runs on its own and the
logits are concatenated in packed order. The loss is the next-token cross-entropy pooled over all sequences (as
in make_golden.py), or for a masked LM the cross-entropy pooled over the labelled positions.

The last line printed is `hf-export: OK max_rel=<x> loss_rel=<y>` or `hf-export: FAIL ...`; the exit status is 1
on failure: max|hf - strand| / max|hf| above --tol, a relative loss difference above 1e-5, or weights that did
not load cleanly.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden as mg  # noqa: E402  (numpy-only helpers; torch is imported lazily)

LOSS_REL_TOL = 1e-5


def make_protein_inputs(path, proteins):
    from safetensors.numpy import save_file

    import make_esm2_golden as eg

    records = eg.read_proteins(mg.resolve_data_path(proteins))
    ids, labels, cu = eg.masked_batch([records[i] for i in eg.RECORDS], seed=7)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_file({"input_ids": ids, "labels": labels, "cu_seqlens": cu}, path,
              metadata={"source": os.path.basename(proteins)})
    print(f"inputs: wrote {path} T={ids.size} proteins={cu.size - 1} labelled={int((labels != -100).sum())}")
    return 0


def make_inputs(path, data):
    from safetensors.numpy import save_file

    data = mg.resolve_data_path(data)
    sequence = mg.read_fasta(data)
    ids, cu, lengths = mg.make_batch(sequence)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    metadata = {
        "sequence_lengths": ",".join(str(n) for n in lengths),
        "windows": ",".join(f"{o}:{n}" for o, n in mg.WINDOWS),
        "source": os.path.basename(data),
    }
    save_file({"input_ids": np.ascontiguousarray(ids), "cu_seqlens": np.ascontiguousarray(cu)}, path,
              metadata=metadata)
    print(f"inputs: wrote {path} T={ids.size} sequences={len(lengths)} lengths={metadata['sequence_lengths']}")
    return 0


def load_model(model_dir, torch, transformers, masked):
    kwargs = dict(dtype=torch.float64, attn_implementation="eager")
    auto = transformers.AutoModelForMaskedLM if masked else transformers.AutoModelForCausalLM
    try:
        model, info = auto.from_pretrained(model_dir, output_loading_info=True, **kwargs)
    except TypeError as err:
        print(f"note: from_pretrained(output_loading_info=True) failed ({err}); loading without it")
        model, info = auto.from_pretrained(model_dir, **kwargs), None
    return model, info


def run_masked(model, ids, cu, torch):
    """Logits [T, V] of every sequence run on its own with an attention mask of ones, in packed order."""
    out = []
    for s, e in zip(cu[:-1].tolist(), cu[1:].tolist()):
        x = torch.as_tensor(ids[s:e], dtype=torch.long).unsqueeze(0)
        out.append(model(input_ids=x, attention_mask=torch.ones_like(x)).logits[0])
    return torch.cat(out, dim=0)


def pooled_labelled_ce(logits, labels):
    """Mean cross-entropy over the positions whose label is not -100 (float64)."""
    keep = labels != -100
    x = np.asarray(logits, dtype=np.float64)[keep]
    y = labels[keep]
    m = x.max(axis=1)
    lse = m + np.log(np.exp(x - m[:, None]).sum(axis=1))
    return float((lse - x[np.arange(y.size), y]).mean())


def loading_problems(info):
    """Missing / unexpected / mismatched keys and error messages reported by from_pretrained."""
    problems = []
    if not info:
        return problems
    if not isinstance(info, dict):
        info = getattr(info, "__dict__", {}) or {}
    for key in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs", "conversion_errors"):
        value = info.get(key)
        if value:
            items = sorted(str(v) for v in value)
            shown = ", ".join(items[:8]) + (f", ... ({len(items)} in all)" if len(items) > 8 else "")
            problems.append(f"{key}: {shown}")
    return problems


def check(args):
    import torch
    import transformers
    from safetensors.torch import load_file

    strand = load_file(args.strand_logits)
    for key in ("input_ids", "cu_seqlens", "logits"):
        if key not in strand:
            raise KeyError(f"{args.strand_logits} has no tensor {key!r} (has {sorted(strand)})")
    ids = strand["input_ids"].to(torch.int64).numpy()
    cu = strand["cu_seqlens"].to(torch.int64).numpy()
    s_logits = strand["logits"].to(torch.float64).numpy()
    if ids.ndim != 1:
        raise ValueError(f"input_ids must be 1-D, got shape {list(ids.shape)}")
    mg.check_cu_seqlens(cu, ids.size)
    if s_logits.ndim != 2 or s_logits.shape[0] != ids.size:
        raise ValueError(f"logits must be [{ids.size}, V], got {list(s_logits.shape)}")
    s_loss = float(strand["loss"].to(torch.float64).reshape(-1)[0]) if "loss" in strand else None
    lengths = np.diff(cu).tolist()
    print(f"strand: {args.strand_logits} T={ids.size} sequences={len(lengths)} lengths={lengths} "
          f"V={s_logits.shape[1]} loss={s_loss!r}")

    config = transformers.AutoConfig.from_pretrained(args.model)
    print(f"config: model_type={getattr(config, 'model_type', None)} "
          f"architectures={getattr(config, 'architectures', None)} vocab={getattr(config, 'vocab_size', None)} "
          f"hidden={getattr(config, 'hidden_size', None)} layers={getattr(config, 'num_hidden_layers', None)} "
          f"heads={getattr(config, 'num_attention_heads', None)}/{getattr(config, 'num_key_value_heads', None)} "
          f"tie_word_embeddings={getattr(config, 'tie_word_embeddings', None)}")
    print(f"config: rope_parameters={getattr(config, 'rope_parameters', None)}")

    masked = getattr(config, "model_type", None) == "esm"
    model, info = load_model(args.model, torch, transformers, masked)
    model.eval()
    problems = loading_problems(info)
    for p in problems:
        print(f"load: {p}")
    dtypes = sorted({str(p.dtype) for p in model.parameters()})
    print(f"model: {type(model).__name__} transformers {transformers.__version__} torch {torch.__version__} "
          f"param dtypes={dtypes} attn={getattr(model.config, '_attn_implementation', None)} "
          f"parameters={sum(p.numel() for p in model.parameters())}")

    try:
        vocab = int(model.get_output_embeddings().weight.shape[0])
    except Exception:  # fall back to the config
        vocab = int(model.config.vocab_size)
    if vocab != s_logits.shape[1]:
        raise ValueError(f"transformers vocabulary is {vocab}, strand logits have {s_logits.shape[1]} columns")
    if ids.min() < 0 or ids.max() >= vocab:
        raise ValueError(f"input_ids outside [0, {vocab})")

    with torch.no_grad():
        run = run_masked if masked else mg.run_sequences
        hf_logits = run(model, ids, cu, torch).to(torch.float64).numpy()

    diff = np.abs(hf_logits - s_logits)
    max_abs = float(diff.max())
    scale = float(np.abs(hf_logits).max())
    max_rel = max_abs / scale if scale > 0 else float("inf")
    print(f"logits: max_abs_err={max_abs:.3e} max_abs_hf={scale:.6f} max_rel={max_rel:.3e} "
          f"mean_abs_err={float(diff.mean()):.3e}")
    for i, (s, e) in enumerate(zip(cu[:-1].tolist(), cu[1:].tolist())):
        agree = float(np.mean(hf_logits[s:e].argmax(1) == s_logits[s:e].argmax(1)))
        print(f"  sequence {i}: tokens={e - s} max_abs_err={float(diff[s:e].max()):.3e} argmax_agree={agree:.3f}")

    if masked:
        if "labels" not in strand:
            raise KeyError(f"{args.strand_logits} has no 'labels': a masked LM's loss needs them")
        labels = strand["labels"].to(torch.int64).numpy()
        hf_loss = pooled_labelled_ce(hf_logits, labels)
        loss_from_strand_logits = pooled_labelled_ce(s_logits, labels)
    else:
        hf_loss = mg.pooled_next_token_ce(hf_logits, ids, cu)
        loss_from_strand_logits = mg.pooled_next_token_ce(s_logits, ids, cu)
    print(f"loss: hf={hf_loss!r} strand={s_loss!r} from_strand_logits={loss_from_strand_logits!r}")
    if s_loss is None:
        problems.append("strand file has no 'loss' tensor")
        loss_rel = float("nan")
    else:
        loss_rel = abs(hf_loss - s_loss) / max(abs(hf_loss), 1e-30)

    reasons = list(problems)
    if not max_rel <= args.tol:
        reasons.append(f"max_rel {max_rel:.3e} > tol {args.tol:g}")
    if s_loss is not None and not loss_rel <= LOSS_REL_TOL:
        reasons.append(f"loss_rel {loss_rel:.3e} > {LOSS_REL_TOL:g}")
    if reasons:
        print(f"hf-export: FAIL max_rel={max_rel:.3e} loss_rel={loss_rel:.3e} ({'; '.join(reasons)})")
        return 1
    print(f"hf-export: OK max_rel={max_rel:.3e} loss_rel={loss_rel:.3e}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="exported Hugging Face directory (config.json + model.safetensors)")
    parser.add_argument("--strand-logits", help="safetensors file written by `strand forward`")
    parser.add_argument("--tol", type=float, default=1e-4, help="bound on max|hf - strand| / max|hf|")
    parser.add_argument("--make-inputs", metavar="PATH", help="write the packed inputs file and exit")
    parser.add_argument("--data", default=mg.DEFAULT_DATA, help="FASTA file for --make-inputs")
    parser.add_argument("--proteins", help="protein FASTA for --make-inputs: masked inputs for an ESM-2 model")
    args = parser.parse_args(argv)

    if args.make_inputs:
        if args.proteins:
            return make_protein_inputs(args.make_inputs, args.proteins)
        return make_inputs(args.make_inputs, args.data)
    if not args.model or not args.strand_logits:
        parser.error("--model and --strand-logits are required (or --make-inputs PATH)")
    try:
        return check(args)
    except Exception as err:  # one parseable verdict line whatever went wrong
        import traceback

        traceback.print_exc()
        print(f"hf-export: FAIL error={type(err).__name__}: {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
