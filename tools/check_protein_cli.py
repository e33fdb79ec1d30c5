#!/usr/bin/env python3
"""Run `strand embed` and `strand score` on the held-out proteins on the CPU and on CUDA, and compare.

Usage (on the GPU machine, from the repository root):

    python3 tools/check_protein_cli.py --strand BIN --model ESM_DIR [--proteins data/uniprot_val.fa.gz]

Embeds every held-out protein (mean over residues, last layer) on both devices; scores the pseudo-log-
likelihood of the first three proteins and the masked marginals of mutations of the first one on both. The CUDA
run computes in bfloat16, so the comparison allows bf16 rounding: embeddings within 5e-2 of the largest CPU
value, scores within 5e-2 nats per residue. The last line printed is `protein-cli: OK ...` or
`protein-cli: FAIL ...`; the exit status is 1 on failure.
"""

import argparse
import csv
import gzip
import json
import os
import subprocess
import sys
import tempfile

TOL = 5e-2


def read_fasta(path):
    opener = gzip.open if path.endswith(".gz") else open
    records, name, seq = [], None, []
    with opener(path, "rt") as f:
        for line in f:
            line = line.strip()
            if line.startswith(">"):
                if name is not None:
                    records.append((name, "".join(seq)))
                name, seq = line[1:].split()[0], []
            elif line:
                seq.append(line)
    if name is not None:
        records.append((name, "".join(seq)))
    return records


def run(cmd):
    print("+ " + " ".join(cmd), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout


def tsv_scores(path, column):
    with open(path) as f:
        return [float(row[column]) for row in csv.DictReader(f, delimiter="\t")]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--strand", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--proteins", default="data/uniprot_val.fa.gz")
    args = p.parse_args()
    from safetensors.numpy import load_file

    records = read_fasta(args.proteins)
    tmp = tempfile.mkdtemp()
    first3 = os.path.join(tmp, "first3.fa")
    with open(first3, "w") as f:
        for name, seq in records[:3]:
            f.write(f">{name}\n{seq[:400]}\n")
    name, wt = records[0]
    muts = [f"{wt[i - 1]}{i}{'G' if wt[i - 1] != 'G' else 'A'}" for i in (2, 5, 10, 20) if i <= len(wt)]
    mut_file = os.path.join(tmp, "muts.txt")
    with open(mut_file, "w") as f:
        f.write("\n".join([f"{name} {m}" for m in muts] + [f"{name} {':'.join(muts[:2])}"]) + "\n")

    out = {}
    for device in ("cpu", "cuda"):
        emb = os.path.join(tmp, f"emb_{device}.safetensors")
        run([args.strand, "embed", "--model", args.model, "--input", args.proteins, "--output", emb, "--truncate",
             "--device", device])
        pll = os.path.join(tmp, f"pll_{device}.tsv")
        run([args.strand, "score", "--model", args.model, "--input", first3, "--output", pll, "--device", device])
        mm = os.path.join(tmp, f"mm_{device}.tsv")
        run([args.strand, "score", "--model", args.model, "--input", first3, "--mutations", mut_file, "--output",
             mm, "--device", device])
        out[device] = (load_file(emb)["embeddings"], tsv_scores(pll, "mean_pll"), tsv_scores(mm, "score"))

    (e_cpu, pll_cpu, mm_cpu), (e_gpu, pll_gpu, mm_gpu) = out["cpu"], out["cuda"]
    emb_err = float(abs(e_cpu - e_gpu).max() / abs(e_cpu).max())
    pll_err = max(abs(a - b) for a, b in zip(pll_cpu, pll_gpu))
    mm_err = max(abs(a - b) for a, b in zip(mm_cpu, mm_gpu))
    print(f"embeddings: {e_cpu.shape[0]} proteins x {e_cpu.shape[1]}; cuda vs cpu max rel err {emb_err:.3e}")
    print(f"pseudo-log-likelihood per residue (cpu): {[round(x, 4) for x in pll_cpu]}; max abs diff {pll_err:.3e}")
    print(f"masked marginals (cpu): {dict(zip(muts + ['double'], [round(x, 4) for x in mm_cpu]))}; "
          f"max abs diff {mm_err:.3e}")
    ok = e_cpu.shape[0] == len(records) and emb_err <= TOL and pll_err <= TOL and mm_err <= TOL
    verdict = "OK" if ok else "FAIL"
    print(f"protein-cli: {verdict} proteins={e_cpu.shape[0]} embed_rel={emb_err:.2e} pll_diff={pll_err:.2e} "
          f"mm_diff={mm_err:.2e}")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as err:  # one parseable verdict line whatever went wrong
        print(f"protein-cli: FAIL error={type(err).__name__}: {err}")
        sys.exit(1)
