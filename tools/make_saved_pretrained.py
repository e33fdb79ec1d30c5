#!/usr/bin/env python3
"""Write tiny models with transformers' own save_pretrained, for strand's interop tests.

Usage (from the repository root, on a machine with torch, transformers and safetensors):

    python3 tools/make_saved_pretrained.py --out DIR

For each model below this writes DIR/<name>/ exactly as `model.save_pretrained` leaves it (config.json and
the weights, sharded where the model asks for it), and DIR/<name>.reference.safetensors holding

    input_ids    int32   [T]      two sequences, packed
    cu_seqlens   int32   [3]
    logits       float32 [T, V]   transformers' logits of each sequence on its own, in packed order, computed
                                  in float32 from the directory as saved (reloaded with from_pretrained)

with the transformers and torch versions as metadata. The models are drawn from a fixed seed with
transformers' initialisation, then every parameter is perturbed so that norms and biases are not at their
initial values (a name mapped to the wrong tensor then changes the logits).
"""

import argparse
import json
import os

import torch
import transformers
from safetensors.torch import save_file

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODELS = {
    # EsmForMaskedLM in float32, one file: the layout transformers writes for an ESM-2 model.
    "esm2_saved": {
        "config": "configs/esm2_tiny.json",
        "class": "EsmForMaskedLM",
        "dtype": torch.float32,
        "shard": None,
        "sequences": [[0, 5, 9, 12, 4, 32, 7, 20, 2], [0, 11, 6, 6, 32, 18, 23, 2]],
    },
    # LlamaForCausalLM in bfloat16, sharded into several files with an index.
    "llama_saved_bf16_sharded": {
        "config": "configs/llama_tiny.json",
        "class": "LlamaForCausalLM",
        "dtype": torch.bfloat16,
        "shard": "60KB",
        "sequences": [[2, 65, 67, 71, 84, 65, 65, 67], [2, 84, 84, 71, 65, 67, 71, 84, 65, 0]],
    },
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, spec in MODELS.items():
        torch.manual_seed(20261203)
        with open(os.path.join(REPO_ROOT, spec["config"])) as f:
            config_dict = json.load(f)
        config_dict.pop("architectures", None)
        model_type = config_dict.pop("model_type")
        config = transformers.AutoConfig.for_model(model_type, **config_dict)
        model = getattr(transformers, spec["class"])(config).eval()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
        model = model.to(spec["dtype"])
        directory = os.path.join(args.out, name)
        kwargs = {"max_shard_size": spec["shard"]} if spec["shard"] else {}
        model.save_pretrained(directory, **kwargs)

        reloaded = getattr(transformers, spec["class"]).from_pretrained(directory, dtype=torch.float32).eval()
        tokens, lengths, logits = [], [0], []
        with torch.no_grad():
            for seq in spec["sequences"]:
                ids = torch.tensor([seq])
                logits.append(reloaded(input_ids=ids).logits[0].float())
                tokens += seq
                lengths.append(lengths[-1] + len(seq))
        save_file(
            {
                "input_ids": torch.tensor(tokens, dtype=torch.int32),
                "cu_seqlens": torch.tensor(lengths, dtype=torch.int32),
                "logits": torch.cat(logits).contiguous(),
            },
            os.path.join(args.out, name + ".reference.safetensors"),
            metadata={"transformers": transformers.__version__, "torch": torch.__version__},
        )
        print(name, sorted(os.listdir(directory)))
        from safetensors import safe_open

        for file in sorted(os.listdir(directory)):
            if file.endswith(".safetensors"):
                with safe_open(os.path.join(directory, file), "pt") as f:
                    print("  ", file, sorted(f.keys())[:12], "...")


if __name__ == "__main__":
    main()
