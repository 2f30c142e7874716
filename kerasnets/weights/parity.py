"""Numbers that prove a conversion: a kerasnets model against the PyTorch model it was converted
from, at every `stage{s}_out` tap and at the logits, on the same seeded inputs.

torch (and torchvision or timm) is optional: each function imports it when called
(`import_torch` hides triton first, whose native library crashes a process that loaded
TensorFlow). The tests' equivalence checks (`tests/torch_equivalence.py`) and
`tools.convert --check` (`kerasnets.weights.conversion`) share these functions.
"""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np

from kerasnets.utils import atomic_write_text

TOLERANCE = 1e-4                 # relative: max |keras - torch| / max |torch|


def import_torch(*libraries: str):
    """`torch` (and `torchvision` / `timm`) imported with triton hidden (torch falls back cleanly
    when `import triton` raises ImportError); raises ImportError when one is not installed."""
    import importlib

    sys.modules.setdefault("triton", None)
    return [importlib.import_module(name) for name in ("torch",) + libraries]


def relative(a, b) -> float:
    """max |a - b| / max |b|: a difference relative to the reference's scale."""
    return float(np.max(np.abs(a - b))) / max(float(np.max(np.abs(b))), 1e-12)


def torch_outputs(torch_model, x_nchw: np.ndarray, taps: dict[str, str]):
    """`(logits, {tap: NHWC array})` of `torch_model` (eval mode, no grad) on `x_nchw`; `taps`
    maps a tap name to the torch module path whose forward output it is (forward hooks)."""
    (torch,) = import_torch()
    modules = dict(torch_model.named_modules())
    missing = [path for path in taps.values() if path not in modules]
    if missing:
        raise ValueError(f"torch modules {missing} are not in the torch model")
    captured, hooks = {}, []
    for tap, path in taps.items():
        def hook(module, args, output, tap=tap):  # a copy: later in-place ReLUs change it
            captured[tap] = output.detach().cpu().clone().numpy().transpose(0, 2, 3, 1)
        hooks.append(modules[path].register_forward_hook(hook))
    try:
        with torch.no_grad():
            logits = torch_model(torch.from_numpy(np.asarray(x_nchw))).cpu().numpy()
    finally:
        for h in hooks:
            h.remove()
    return logits, captured


def keras_outputs(model, x_nhwc: np.ndarray, taps):
    """`(logits, {tap: array})` of a Keras model (inference mode) on `x_nhwc`."""
    import keras

    taps = list(taps)
    probe = keras.Model(model.inputs, [model.get_layer(t).output for t in taps] + [model.output])
    outputs = [np.asarray(keras.ops.convert_to_numpy(o))
               for o in probe([x_nhwc], training=False)]
    return outputs[-1], dict(zip(taps, outputs[:-1]))


@dataclasses.dataclass
class Parity:
    """Differences per output (`stage1_out`, ..., `logits`): max abs and relative."""

    rows: list[dict]
    tolerance: float = TOLERANCE
    inputs: str = ""

    @property
    def worst(self) -> float:
        return max(row["relative"] for row in self.rows)

    @property
    def ok(self) -> bool:
        return self.worst <= self.tolerance

    def markdown(self, title: str) -> str:
        lines = [f"# {title}", "", self.inputs, "",
                 "| output | shape | max abs diff | relative diff |", "|---|---|---|---|"]
        lines += [f"| {r['output']} | {'x'.join(map(str, r['shape']))} | {r['max_abs']:.3g} | "
                  f"{r['relative']:.3g} |" for r in self.rows]
        verdict = "within" if self.ok else "ABOVE"
        return "\n".join(lines + ["", f"Worst relative difference {self.worst:.3g}: {verdict} "
                                      f"the tolerance {self.tolerance:g}.", ""])

    def write(self, directory, title: str) -> tuple[str, str]:
        """`parity.md` and `parity.json` in `directory`, each written atomically."""
        import os

        md, js = os.path.join(directory, "parity.md"), os.path.join(directory, "parity.json")
        atomic_write_text(md, self.markdown(title))
        atomic_write_text(js, json.dumps({"title": title, "inputs": self.inputs,
                                          "tolerance": self.tolerance, "worst": self.worst,
                                          "ok": self.ok, "rows": self.rows}, indent=2) + "\n")
        return md, js


def compare(model, torch_model, taps: dict[str, str], *, input_size: int, seed: int = 0,
            batch: int = 2, tolerance: float = TOLERANCE) -> Parity:
    """A Keras model (its `classifier_activation=None` logits) against `torch_model` on `batch`
    seeded standard-normal images (NCHW for torch, the same values NHWC for Keras) at every
    tap of `taps` (Keras layer -> torch module path) and at the logits."""
    x = np.random.default_rng(seed).standard_normal(
        (batch, 3, input_size, input_size)).astype(np.float32)
    expected, captured = torch_outputs(torch_model, x, taps)
    got, outputs = keras_outputs(model, x.transpose(0, 2, 3, 1), taps)
    rows = []
    for name, a, b in [(t, outputs[t], captured[t]) for t in taps] + [("logits", got, expected)]:
        if a.shape != b.shape:
            raise ValueError(f"{name}: Keras gives shape {a.shape}, torch {b.shape}")
        rows.append({"output": name, "shape": list(a.shape),
                     "max_abs": float(np.max(np.abs(a - b))), "relative": relative(a, b)})
    return Parity(rows, tolerance, f"{batch} seeded standard-normal images (seed {seed}) of "
                                   f"{input_size}x{input_size}; relative = max |keras - torch| "
                                   f"/ max |torch|.")


def build_source_model(source: str, name: str, *, classes: int | None = None, **kwargs):
    """The PyTorch model `name` of `source` ("torchvision" or "timm"), randomly initialised
    (nothing downloaded), with `classes` outputs and the given keyword arguments."""
    if source not in ("torchvision", "timm"):
        raise ValueError(f"cannot build a PyTorch model from source {source!r}")
    torch, library = import_torch(source)
    if classes is not None:
        kwargs["num_classes"] = classes
    if source == "torchvision":
        return library.models.get_model(name, weights=None, **kwargs)
    return library.create_model(name.split(".")[0], pretrained=False, **kwargs)


def load_torch_file(torch_model, path) -> None:
    """Load a checkpoint file into `torch_model` with torch's own reader (`weights_only`; a
    trainer's dict unwrapped and wrapper prefixes removed as kerasnets does), strictly."""
    import argparse

    from kerasnets.weights.convert import unwrap_state_dict

    (torch,) = import_torch()
    if str(path).endswith(".safetensors"):
        import safetensors.torch

        state = safetensors.torch.load_file(str(path))
    else:
        with torch.serialization.safe_globals([argparse.Namespace]):
            state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: torch.as_tensor(v) for k, v in unwrap_state_dict(state).items()}
    torch_model.load_state_dict(state, strict=True)
    torch_model.eval()
