"""Convert a PyTorch checkpoint (yours, fine-tuned, as a trainer saved it) to a Keras file, with
a parity report against the PyTorch model.

    python -m tools.convert --model resnet18 --checkpoint run/best.pth --output r18.keras --check
    python -m tools.convert --checkpoint timm_run/model_best.pth.tar --output m.weights.h5
    python -m tools.convert --model resnet50 --source timm --checkpoint w.safetensors \\
        --output r50.weights.h5

The checkpoint (.pth / .pt / .bin / .safetensors) is read without torch through the safe reader;
a trainer's dict (`state_dict`, `model`, `state_dict_ema`) and DataParallel's `module.` /
`model.` prefixes are unwrapped, the class count comes from its classifier. timm training
checkpoints name their architecture (`arch`), so --model may be left out. `--check` (needs torch
and torchvision / timm) builds the PyTorch model, loads the same file with torch, and writes
parity.md + parity.json (max abs and relative difference at every stage{s}_out tap and at the
logits, seeded inputs) beside --output; above 1e-4 relative the tool exits 1. Library:
`kerasnets.weights.conversion.convert_checkpoint`.
"""

from __future__ import annotations

from absl import flags

from tools import flags as shared

flags.DEFINE_string("model", None, "Registry (or torchvision/timm) name of the architecture; "
                    "optional for timm training checkpoints that name it (arch).")
flags.DEFINE_string("checkpoint", None, "The PyTorch checkpoint: .pth, .pt, .bin, .safetensors.")
flags.DEFINE_enum("source", None, ["torchvision", "timm"], "Which library's layout the "
                  "checkpoint follows (default: the model's first registered source).")
flags.DEFINE_integer("classes", None, "Classes (default: the checkpoint's classifier).")
flags.DEFINE_string("output", None, "OUT.keras or OUT.weights.h5 (written atomically).")
flags.DEFINE_bool("check", False, "Compare with the PyTorch model; write parity.md/.json.")
flags.DEFINE_integer("input_size", None, "--check: input size (default: the model's).")
flags.DEFINE_string("report_dir", None, "--check: where parity.md/.json go (default: beside "
                    "--output).")
flags.mark_flags_as_required(["checkpoint", "output"])
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from kerasnets.weights.conversion import convert_checkpoint

    result = convert_checkpoint(FLAGS.model, FLAGS.checkpoint, FLAGS.output, source=FLAGS.source,
                                classes=FLAGS.classes, check=FLAGS.check,
                                report_dir=FLAGS.report_dir, input_size=FLAGS.input_size)
    print(f"{FLAGS.checkpoint} ({result.source} {result.source_model}) -> {result.output}: "
          f"kerasnets {result.variant}, {result.classes} classes")
    if result.skipped:
        print(result.skipped)
    if result.parity is not None:
        for row in result.parity.rows:
            print(f"  {row['output']:>12}: max abs {row['max_abs']:.3g}, relative "
                  f"{row['relative']:.3g}")
        verdict = "ok" if result.parity.ok else "FAILED"
        print(f"parity {verdict}: worst relative {result.parity.worst:.3g} (tolerance "
              f"{result.parity.tolerance:g})")
        return 0 if result.parity.ok else 1
    return 0


if __name__ == "__main__":
    shared.run(main)
