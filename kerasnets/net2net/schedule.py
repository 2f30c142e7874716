"""Growth schedules of the Net2Net experiment (`kerasnets.experiments.net2net`, `tools.net2net`):
`parse_schedule` reads `"train:3,wider:LAYER:2x,deeper:LAYER"` into `Step`s, `apply_step` applies
a `wider` / `deeper` step to a model."""

from __future__ import annotations

import dataclasses
import re

from kerasnets.net2net.deepen import deeper
from kerasnets.net2net.graph import _width
from kerasnets.net2net.widen import wider


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of a growth schedule: `train` for `epochs`, `wider` `layer` to `width` ("2x",
    "1.5x" of its current width, or a number of units), or `deeper` after `layer` (`kind`
    "conv" | "dense", None: from the layer's output rank; `kernel_size` for conv)."""

    op: str
    layer: str | None = None
    epochs: int = 0
    width: str | None = None
    kind: str | None = None
    kernel_size: int = 3

    def __str__(self) -> str:
        if self.op == "train":
            return f"train:{self.epochs}"
        if self.op == "wider":
            return f"wider:{self.layer}:{self.width}"
        return ":".join(["deeper", self.layer] + ([self.kind] if self.kind else [])
                        + ([str(self.kernel_size)] if self.kernel_size != 3 else []))


_WIDTH = re.compile(r"^(\d+(\.\d+)?x|\d+)$")


def parse_schedule(text: str) -> list[Step]:
    """Parse `"train:3,wider:stage1_block1_conv:2x,train:3,deeper:stage2_out,train:3"`.

    Steps are comma-separated: `train:EPOCHS`, `wider:LAYER:WIDTH` (WIDTH = `2x`, `1.5x` or a
    number of units), `deeper:LAYER[:conv|dense][:KERNEL_SIZE]`. Errors name the bad step.
    """
    steps = []
    for raw in [s.strip() for s in (text or "").split(",") if s.strip()]:
        parts = raw.split(":")
        op, args = parts[0].strip().lower(), [p.strip() for p in parts[1:]]
        try:
            if op == "train" and len(args) == 1 and args[0].isdigit() and int(args[0]) > 0:
                steps.append(Step("train", epochs=int(args[0])))
            elif op == "wider" and len(args) == 2 and args[0] and _WIDTH.match(args[1]):
                steps.append(Step("wider", args[0], width=args[1]))
            elif op == "deeper" and 1 <= len(args) <= 3 and args[0]:
                kind = next((a for a in args[1:] if a in ("conv", "dense")), None)
                sizes = [a for a in args[1:] if a not in ("conv", "dense")]
                if len(sizes) > 1 or (sizes and not sizes[0].isdigit()):
                    raise ValueError
                steps.append(Step("deeper", args[0], kind=kind,
                                  kernel_size=int(sizes[0]) if sizes else 3))
            else:
                raise ValueError
        except ValueError:
            raise ValueError(f"Bad schedule step {raw!r}: expected train:EPOCHS (> 0), "
                             f"wider:LAYER:WIDTH (2x, 1.5x or units) or "
                             f"deeper:LAYER[:conv|dense][:KERNEL_SIZE].") from None
    if not steps:
        raise ValueError("The schedule is empty.")
    return steps


def resolve_width(model, layer_name: str, width: str | int) -> int:
    """The new width for `wider`: "2x" / "1.5x" of the layer's current width (rounded), or a
    number of units."""
    current = _width(model.get_layer(layer_name))
    if current is None:
        raise ValueError(f"Layer {layer_name!r} has no width to multiply "
                         f"({type(model.get_layer(layer_name)).__name__}).")
    text = str(width)
    return int(round(current * float(text[:-1]))) if text.endswith("x") else int(text)


def apply_step(model, step: Step, *, noise: float = 0.0, seed=None, data=None):
    """Apply a `wider` or `deeper` step of a schedule (`kind` None: conv for 4-D outputs, dense
    for 2-D ones)."""
    if step.op == "wider":
        return wider(model, step.layer, resolve_width(model, step.layer, step.width),
                     noise=noise, seed=seed)
    if step.op == "deeper":
        kind = step.kind or ("dense" if len(model.get_layer(step.layer).output.shape) == 2
                             else "conv")
        return deeper(model, step.layer, kind=kind, kernel_size=step.kernel_size, data=data)
    raise ValueError(f"apply_step takes wider / deeper steps, got {step}.")
