"""Equality of a kerasnets variant and the PyTorch model whose checkpoints it loads.

    from torch_equivalence import assert_matches_torch, importorskip
    torch, torchvision = importorskip("torch", "torchvision")
    ...
    assert_matches_torch("resnet18", torchvision.models.resnet18(), source="torchvision",
                         input_size=64)

The torch model is put in eval mode and its BatchNorm layers are made non-trivial with a fixed
seed (random affine parameters, running statistics measured on a random batch and then
perturbed), so that a wrong epsilon, a swapped gamma / beta or a missing BN shows up in the
logits; then the BN that closes each residual branch is scaled by `DAMPING`
(`damp_residual_branches`: a random BN network is chaotic otherwise). `source_model` builds a
registered variant's original with torch's initialisation seeded; the family tests
(tests/test_torch_*.py) and tests/scripts/pretrained_fidelity.py prepare their models this same
way. Its state dict is converted with `kerasnets.weights.convert.load_torch_state_dict` onto
`kerasnets.create_model(variant, input_shape=(s, s, 3), classifier_activation=None)`, both models
see the same random input (NCHW vs NHWC), and the logits and the `stage{s}_out` taps of the
family's `TorchMapping` (through torch forward hooks) must agree to `rtol` times the largest
torch value. Degenerate outputs (near-uniform logits) are refused, since they would hide any
difference.

torch is imported lazily. Import it through `importorskip` (or import this module before
torch): torchvision and timm import triton, whose native library crashes the process
(segmentation fault) when TensorFlow was loaded first, as it always is under our conftest.
Triton is torch.compile's GPU code generator, never used here, so it is hidden from them.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import kerasnets
from kerasnets.weights import parity
from kerasnets.weights.convert import load_torch_state_dict


# torch falls back cleanly when triton cannot be imported; a None entry makes `import triton`
# raise ImportError instead of loading the library that segfaults after TensorFlow.
sys.modules.setdefault("triton", None)


def importorskip(*names):
    """`pytest.importorskip` for each of `names` ("torch", "torchvision", "timm"), after hiding
    triton (see the module docstring); returns the modules (one module for one name)."""
    sys.modules.setdefault("triton", None)
    modules = [pytest.importorskip(name) for name in names]
    return modules[0] if len(modules) == 1 else modules


def torch_param_count(torch_model) -> int:
    """Trainable parameters of a torch model (BatchNorm running statistics are buffers, not
    parameters): the same count as the registry's reference."""
    return int(sum(p.numel() for p in torch_model.parameters() if p.requires_grad))


def randomize_torch_batchnorm(torch_model, input_size: int, *, seed: int = 0,
                              batch: int = 4) -> None:
    """Random BN affine parameters (gamma in [0.5, 1.5], beta in [-0.2, 0.2]); running statistics
    measured on a random batch (so activations keep a sane scale through deep networks), then
    perturbed (mean + U(-0.1, 0.1) * std, var * U(0.7, 1.3)) so that BN is not a plain
    normalisation either."""
    import torch

    generator = torch.Generator().manual_seed(seed)

    def uniform(like, low, high):
        return torch.rand(like.shape, generator=generator) * (high - low) + low

    norms = [m for m in torch_model.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in norms:
            if m.affine:
                m.weight.copy_(uniform(m.weight, 0.5, 1.5))
                m.bias.copy_(uniform(m.bias, -0.2, 0.2))
            m.reset_running_stats()
            m.momentum = None  # cumulative average: one batch sets the statistics exactly
        torch_model.train()
        torch_model(torch.randn(batch, 3, input_size, input_size, generator=generator))
        torch_model.eval()
        for m in norms:
            m.momentum = 0.1
            std = m.running_var.sqrt()
            m.running_mean.add_(uniform(m.running_mean, -0.1, 0.1) * std)
            m.running_var.mul_(uniform(m.running_var, 0.7, 1.3))


# The BN that closes each residual branch is scaled by this after `randomize_torch_batchnorm`. A
# randomly initialised BN network is chaotic: each undamped residual block amplifies rounding
# ~3x, so torch's own float32 output of SE-ResNet-152 differs from float64 by up to 0.4 in its
# last stage, and kerasnets' EfficientNet-B7 from torch's by 0.12 even in float64, although the
# mapping is exact. Damped, the residual branches still carry a tenth of the signal with BNs far
# from the identity, so a wrong detail still shows (torchvision's B0 with BN epsilon 1e-3
# instead of 1e-5 differs by ~1), and rounding stays at ~1e-6.
DAMPING = 0.1


def _last_norm(module):
    import torch

    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    return norms[-1] if norms else None


def residual_branch_norms(torch_model) -> list:
    """The BatchNorm that closes each residual branch (the last BN before the addition of the
    shortcut) of torchvision / timm models:

    - ResNet blocks (torchvision's and timm's BasicBlock / Bottleneck, timm's legacy SENet
      blocks): a module with a `downsample` attribute (None or the projection shortcut); its
      `bn3`, else `bn2`;
    - inverted residuals (torchvision's MobileNetV2 / V3 blocks, EfficientNet's MBConv and
      FusedMBConv: `use_res_connect`; timm's InvertedResidual, DepthwiseSeparableConv,
      EdgeResidual: `has_skip`) when their shortcut is active: the block's last BN;
    - timm's legacy Xception blocks (`rep` + `skip`): the last BN of `rep`.

    Models without residual additions have none (VGG, AlexNet, SqueezeNet, ShuffleNet's channel
    split, DenseNet's concatenation, GoogLeNet and the Inception modules, NASNet's cells); the
    Inception-ResNet blocks are already damped by their `scale` (0.1-0.2, a conv with bias, no
    BN, closes the branch)."""
    import torch

    norm_type = torch.nn.modules.batchnorm._BatchNorm
    found = []
    for module in torch_model.modules():
        if getattr(module, "use_res_connect", False) or getattr(module, "has_skip", False):
            norm = _last_norm(module)
        elif hasattr(module, "downsample") and isinstance(
                getattr(module, "bn3", None) or getattr(module, "bn2", None), norm_type):
            norm = getattr(module, "bn3", None) or module.bn2
        elif hasattr(module, "skip") and isinstance(getattr(module, "rep", None),
                                                    torch.nn.Sequential):
            norm = _last_norm(module.rep)
        else:
            continue
        if norm is not None:
            found.append(norm)
    return found


def damp_residual_branches(torch_model, factor: float = DAMPING) -> int:
    """Scale the BatchNorm closing each residual branch (`residual_branch_norms`: its gamma and
    beta, so its output) by `factor`; returns how many branches were damped."""
    import torch

    norms = residual_branch_norms(torch_model)
    with torch.no_grad():
        for norm in norms:
            if not norm.affine:
                raise ValueError(f"{type(norm).__name__} without affine parameters closes a "
                                 "residual branch: cannot damp it")
            norm.weight.mul_(factor)
            norm.bias.mul_(factor)
    return len(norms)


class Differences(dict):
    """`{tap: relative difference}`; `.noise` holds, where it was measured, torch's own float32
    error per tap (float32 torch vs the same model in float64); `.damped` the number of residual
    branches damped (`damp_residual_branches`)."""

    noise: dict
    damped: int = 0


def compare_with_torch(variant: str, torch_model, *, source: str, input_size: int,
                       taps=True, seed: int = 0, batch: int = 2, randomize: bool = True,
                       mapping=None, model=None, noise_above: float | None = None,
                       damping: float | None = DAMPING) -> dict[str, float]:
    """Relative differences `{"logits": r, "stage2_out": r, ...}` between `variant` (weights
    converted from `torch_model`) and `torch_model` on one random batch; `r = max|keras - torch|
    / max|torch|`. `taps`: True (every tap of the variant's mapping), False (none) or a dict
    keras tap -> torch module path. `model`: an already built Keras model (logits) to use instead
    of `create_model(variant)`, e.g. a shallow build of the variant's spec that proves its layout
    and mapping cheaply against an equally shallow torch model. `randomize`: BatchNorm randomised
    (`randomize_torch_batchnorm` with `seed`), then residual branches damped by `damping`
    (`damp_residual_branches`; None: not damped); `result.damped` says how many.

    Random deep networks amplify rounding: torch itself, in float32, can differ from the same
    model in float64 by more than 1e-4 in the last stages of a 100-layer ResNet. When a
    difference exceeds `noise_above`, that float32 error is measured (`result.noise`, same keys)
    so the caller can tell rounding from a wrong conversion (which is off by 1e-2 to 1)."""
    from kerasnets.weights import pretrained

    torch_model.eval()
    damped = 0
    if randomize:
        randomize_torch_batchnorm(torch_model, input_size, seed=seed)
        if damping is not None:
            damped = damp_residual_branches(torch_model, damping)
    mapping = mapping or pretrained.torch_mapping(variant, source)
    if taps is True:
        taps = dict(mapping.taps)
    taps = dict(taps or {})

    if model is None:
        model = kerasnets.create_model(variant, input_shape=(input_size, input_size, 3),
                                       classifier_activation=None)
    state = {k: v.detach().cpu().numpy() for k, v in torch_model.state_dict().items()}
    load_torch_state_dict(model, state, source, variant=variant, mapping=mapping)

    x = np.random.default_rng(seed).standard_normal(
        (batch, 3, input_size, input_size)).astype(np.float32)
    expected, captured = parity.torch_outputs(torch_model, x, taps)
    captured32 = dict(captured)
    got, keras_taps = parity.keras_outputs(model, x.transpose(0, 2, 3, 1), taps)
    outputs = [keras_taps[t] for t in taps] + [got]

    # The comparison means nothing on degenerate logits (all equal, vanishing or non-finite).
    assert np.all(np.isfinite(expected)), f"{variant}: torch logits are not finite"
    spread = float(np.min(np.std(expected, axis=-1)))
    assert spread > 1e-3 * max(float(np.max(np.abs(expected))), 1e-12) and spread > 1e-6, (
        f"{variant}: torch logits are near-uniform (std across classes {spread:.3g}); the test "
        f"would not see a difference")

    result = Differences()
    for tap, got in zip(taps, outputs[:-1]):
        assert got.shape == captured[tap].shape, (
            f"{variant}: tap {tap} has shape {got.shape}, torch {taps[tap]} gives "
            f"{captured[tap].shape}")
        result[tap] = parity.relative(got, captured[tap])
    assert outputs[-1].shape == expected.shape, (
        f"{variant}: logits shape {outputs[-1].shape} vs torch {expected.shape}")
    result["logits"] = parity.relative(outputs[-1], expected)
    result.noise = {}
    result.damped = damped
    if noise_above is not None and max(result.values()) > noise_above:
        result.noise = _float32_noise(torch_model, x, taps, captured32, expected)
    return result


def _float32_noise(torch_model, x, taps, captured32, expected32) -> dict[str, float]:
    """Relative difference between the float32 torch outputs and those of a float64 copy."""
    import copy

    reference = copy.deepcopy(torch_model).double().eval()
    exact, captured = parity.torch_outputs(reference, x.astype(np.float64), taps)
    noise = {tap: parity.relative(captured32[tap], captured[tap]) for tap in taps}
    noise["logits"] = parity.relative(expected32, exact)
    return noise


NOISE_FACTOR = 8  # Keras vs torch (both float32) may differ by a few times torch's own error
# Above this float32 error the random network is too ill-conditioned for the comparison to tell a
# wrong conversion (1e-2 and more) from rounding: damp it (smaller residual branches) instead.
MAX_NOISE = 1e-3


def assert_matches_torch(variant: str, torch_model, *, source: str, input_size: int, taps=True,
                         rtol: float = 1e-4, seed: int = 0, mapping=None, model=None,
                         randomize: bool = True, damping: float | None = DAMPING,
                         ) -> dict[str, float]:
    """`compare_with_torch`, asserting that at least one tap was compared when `taps` is not
    False and that every relative difference is <= rtol, or, where torch's own float32 rounding
    is larger (deep random networks, see `compare_with_torch`), <= NOISE_FACTOR times that
    rounding (itself at most MAX_NOISE); returns the differences (for reports; `.noise` where
    it was measured). `randomize=False` keeps the caller's BatchNorm statistics."""
    diffs = compare_with_torch(variant, torch_model, source=source, input_size=input_size,
                               taps=taps, seed=seed, mapping=mapping, model=model,
                               noise_above=rtol, randomize=randomize, damping=damping)
    if taps is not False:
        assert len(diffs) > 1, f"{variant}: no stage tap was compared (mapping has no taps)"
    noisy = {k: v for k, v in diffs.noise.items() if v > MAX_NOISE}
    assert not noisy, (
        f"{variant}: torch's own float32 error (vs float64) is {noisy}: the randomised network is "
        f"too ill-conditioned for this comparison to mean anything; damp it")
    allowed = {k: max(rtol, NOISE_FACTOR * diffs.noise.get(k, 0.0)) for k in diffs}
    worst = max(diffs, key=lambda k: diffs[k] / allowed[k])
    assert diffs[worst] <= allowed[worst], (
        f"{variant} vs {source}: {worst} differs by {diffs[worst]:.3g} of the largest torch value "
        f"(allowed {allowed[worst]:.3g}: rtol {rtol}, torch's own float32 error "
        f"{diffs.noise.get(worst, 0.0):.2g}); all: "
        f"{', '.join(f'{k}={v:.2g}' for k, v in diffs.items())}")
    return diffs


def source_model(variant: str, index: int = 0, *, seed: int | None = 0):
    """`(source, torch model)`: the PyTorch original of the variant's `index`-th registered
    checkpoint, built at random initialisation (nothing downloaded) with the checkpoint's
    `source_kwargs` (torchvision's `get_model`, timm's `create_model` without the pretrained
    tag), torch's initialisation seeded with `seed` (None: torch's current random state; a
    seeded build leaves torch's global random state as it was)."""
    import contextlib

    torch = importorskip("torch")
    from kerasnets.weights import pretrained

    weights = pretrained.torch_weights(variant)[index]
    kwargs = dict(weights.source_kwargs)
    if weights.source not in ("torchvision", "timm"):
        raise ValueError(f"{variant}: {weights.label} has no PyTorch model to build")
    library = importorskip(weights.source)
    with (torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()):
        if seed is not None:
            torch.manual_seed(seed)
        if weights.source == "torchvision":
            model = library.models.get_model(weights.model, weights=None, **kwargs)
        else:
            model = library.create_model(weights.model.split(".")[0], pretrained=False, **kwargs)
    return weights.source, model
