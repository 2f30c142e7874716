"""Bias correction for post-training int8 quantisation (Nagel et al. 2019, "Data-Free
Quantization Through Weight Equalization and Bias Correction", section 4.2, empirical form).

TFLite's converter and onnxruntime's static quantisation fold each inference BatchNorm into the
convolution before it (w_f = w * gamma / sqrt(var + eps)) and round w_f per output channel,
symmetrically, to the int8 grid [-127, 127] (scale = max |w_f| / 127). The rounding error
e = w_q - w_f is fixed once the weights are, so it moves each output channel by
sum(e * E[x]) on average, where E[x] is the convolution's mean input. Through deep networks these
shifts add up: EfficientNet-Lite0's int8 model agreed with float32 on 87% of held-out photo
views without correction and on 94% with it (docs/results/serving_int8_lite0_224.md).

`bias_corrected(model, images)` predicts w_q exactly as the converters compute it, measures each
convolution's mean input on the calibration images, and returns a copy of the model whose
BatchNorm betas are lowered by the predicted shift, so the quantised model's expected output is
float32's. The float32 model itself is not changed; a check against it stays a check against it.
Only convolutions (Conv2D, DepthwiseConv2D) that feed a BatchNorm at the model's top level and
are called once are corrected; the rest are left as they are.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

INT8_LEVELS = 127.0   # symmetric int8 weights: [-127, 127], TFLite's and onnxruntime's QInt8


@dataclasses.dataclass(frozen=True)
class Correction:
    """What `bias_corrected` did: the corrected convolutions (by name) and the largest
    absolute shift it removed from each one's output channels."""

    layers: tuple[str, ...]
    max_shift: tuple[float, ...]

    def describe(self) -> str:
        if not self.layers:
            return "bias correction: no convolution feeds a BatchNorm; nothing corrected"
        return (f"bias correction: {len(self.layers)} convolution(s) corrected, largest output "
                f"shift removed {max(self.max_shift):.3g} (median per layer "
                f"{float(np.median(self.max_shift)):.3g})")


def _conv_types():
    return (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)


def conv_bn_pairs(model) -> list[tuple[keras.layers.Layer, keras.layers.Layer]]:
    """(convolution, BatchNorm) pairs of `model`'s top-level layers where the BatchNorm reads the
    convolution's output directly, both channels-last and each called once."""
    pairs = []
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization) or layer.axis not in (-1, 3):
            continue
        if len(layer._inbound_nodes) != 1:
            continue
        producer = layer.input._keras_history.operation
        if (isinstance(producer, _conv_types()) and len(producer._inbound_nodes) == 1
                and producer.data_format == "channels_last"
                and getattr(producer, "groups", 1) == 1):
            pairs.append((producer, layer))
    return pairs


def _folding_factor(bn) -> np.ndarray:
    gamma = bn.gamma.numpy() if bn.scale else np.ones(bn.moving_variance.shape, "float32")
    return gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)


def folded_rounding_error(conv, bn, levels: float = INT8_LEVELS) -> np.ndarray:
    """w_q - w_f of `conv`'s kernel with `bn` folded in, shaped as the kernel: what symmetric
    per-output-channel rounding to [-levels, levels] does to it."""
    kernel = np.asarray(conv.kernel.numpy(), "float64")
    factor = np.asarray(_folding_factor(bn), "float64")
    if isinstance(conv, keras.layers.DepthwiseConv2D):       # (kh, kw, cin, mult): cin * mult
        folded = kernel * factor.reshape(1, 1, *kernel.shape[2:])
        axes = (0, 1)
    else:                                                      # (kh, kw, cin, cout)
        folded = kernel * factor
        axes = (0, 1, 2)
    scale = np.abs(folded).max(axis=axes, keepdims=True) / levels
    scale = np.where(scale == 0, 1.0, scale)
    return np.clip(np.round(folded / scale), -levels, levels) * scale - folded


def output_shift(conv, error: np.ndarray, mean_input: np.ndarray) -> np.ndarray:
    """Mean change of `conv`'s output channels when its kernel moves by `error`, for an input
    whose per-channel mean is `mean_input` (exact away from zero-padded borders)."""
    if isinstance(conv, keras.layers.DepthwiseConv2D):
        kh, kw, cin, mult = error.shape
        return (error * mean_input.reshape(1, 1, cin, 1)).sum((0, 1)).reshape(-1)
    return np.tensordot(mean_input, error.sum((0, 1)), axes=(0, 0))


def mean_inputs(model, layers, images, batch_size: int = 16) -> list[np.ndarray]:
    """Per-channel mean of each layer's input over `images` (model-ready), one pass."""
    probe = keras.Model(model.input, [keras.layers.GlobalAveragePooling2D()(layer.input)
                                       for layer in layers])
    sums = [np.zeros(layer.input.shape[-1], "float64") for layer in layers]
    for start in range(0, len(images), batch_size):
        outs = probe(images[start:start + batch_size], training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for total, out in zip(sums, outs):
            total += np.asarray(out, "float64").sum(0)
    return [total / len(images) for total in sums]


def bias_corrected(model, images, *, levels: float = INT8_LEVELS, batch_size: int = 16):
    """(copy of `model` with int8 rounding's mean output shift removed, `Correction`).
    `images` are model-ready calibration inputs (what `model` takes)."""
    pairs = conv_bn_pairs(model)
    fixed = keras.models.clone_model(model)
    fixed.set_weights(model.get_weights())
    if not pairs:
        return fixed, Correction((), ())
    means = mean_inputs(model, [conv for conv, _ in pairs], np.asarray(images, "float32"),
                        batch_size)
    by_name = {layer.name: layer for layer in fixed.layers}
    shifts = []
    for (conv, bn), mean in zip(pairs, means):
        shift = output_shift(conv, folded_rounding_error(conv, bn, levels), mean)
        target = by_name[bn.name]
        if target.center:
            target.beta.assign((target.beta.numpy() - shift).astype(target.beta.dtype))
        else:   # no beta to move: the shift goes into the moving mean, scaled by the folding
            target.moving_mean.assign((target.moving_mean.numpy() + shift / _folding_factor(bn))
                                      .astype(target.moving_mean.dtype))
        shifts.append(float(np.abs(shift).max()))
    return fixed, Correction(tuple(conv.name for conv, _ in pairs), tuple(shifts))
