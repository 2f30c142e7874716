"""Does bias correction (Nagel et al. 2019, "Data-Free Quantization", section 4.2; empirical
form) bring full-integer TFLite EfficientNet-Lite0 closer to float32? A measurement aid for
docs/results/serving_int8_lite0_224.md.

TFLite folds each BatchNorm into the convolution before it (w_f = w * gamma / sqrt(var + eps))
and quantises w_f per output channel, symmetric, to [-127, 127]. The rounding error e = w_q - w_f
shifts the channel's output by sum(e * E[x]) on average. The script predicts w_q as the converter
computes it, measures E[x] (each convolution's mean input per channel on the calibration views),
and subtracts the shift from the BatchNorm's beta, so the int8 model's expected output is
float32's. The original float32 model stays the reference.

    python tests/scripts/int8_bias_correction.py /tmp/bc [--layers stem|all]
"""

import argparse
import os
import shutil

import keras
import numpy as np

import kerasnets
from kerasnets import export as ex
from pipelines import calibration


def conv_bn_pairs(model):
    """(convolution, batch norm) pairs where the batch norm reads the convolution's output."""
    pairs = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            producer = layer.input._keras_history.operation
            if isinstance(producer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
                pairs.append((producer, layer))
    return pairs


def folded_rounding_error(conv, bn):
    """e = w_q - w_f of the folded kernel, shaped as the kernel."""
    kernel = conv.kernel.numpy()
    gamma = bn.gamma.numpy() if bn.scale else np.ones(bn.moving_variance.shape)
    factor = gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
    if isinstance(conv, keras.layers.DepthwiseConv2D):       # (kh, kw, cin, mult), out = cin*mult
        kh, kw, cin, mult = kernel.shape
        folded = kernel * factor.reshape(1, 1, cin, mult)
        axes = (0, 1)
    else:                                                      # (kh, kw, cin, cout)
        folded = kernel * factor
        axes = (0, 1, 2)
    scale = np.abs(folded).max(axis=axes, keepdims=True) / 127.0
    scale = np.where(scale == 0, 1.0, scale)
    quantised = np.clip(np.round(folded / scale), -127, 127) * scale
    return quantised - folded


def corrected_model(model, images, which):
    pairs = conv_bn_pairs(model)
    if which == "stem":
        pairs = pairs[:2]
    probe = keras.Model(model.input, [keras.layers.GlobalAveragePooling2D()(conv.input)
                                      for conv, _ in pairs])
    means = [np.zeros(conv.input.shape[-1]) for conv, _ in pairs]
    for i in range(0, len(images), 20):
        outs = probe(images[i:i + 20], training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for k, out in enumerate(outs):
            means[k] += np.asarray(out).sum(0) / len(images)
    fixed = keras.models.clone_model(model)
    fixed.set_weights(model.get_weights())
    by_name = {layer.name: layer for layer in fixed.layers}
    shifts = []
    for (conv, bn), mean in zip(pairs, means):
        error = folded_rounding_error(conv, bn)
        if isinstance(conv, keras.layers.DepthwiseConv2D):
            kh, kw, cin, mult = error.shape
            shift = (error * mean.reshape(1, 1, cin, 1)).sum((0, 1)).reshape(-1)
        else:
            shift = np.tensordot(mean, error.sum((0, 1)), axes=(0, 0))
        target = by_name[bn.name]
        target.beta.assign(target.beta.numpy() - shift)
        shifts.append(float(np.abs(shift).max()))
    print(f"corrected {len(pairs)} convolutions; largest |shift| per layer (first 6): "
          f"{[round(s, 4) for s in shifts[:6]]}")
    return fixed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work")
    parser.add_argument("--layers", choices=["none", "stem", "all"], default="all")
    args = parser.parse_args()
    name = "efficientnet_lite0"
    model = kerasnets.create_model(name, weights="imagenet")
    common = dict(size=224, channels=3, input_dtype="float32",
                  preprocessing=kerasnets.model_info(name, flops=False)["preprocessing"])
    views = {split: calibration.images("photos", split, n, **common)
             for split, n in (("train", 1200), ("validation", 300))}
    calibration_views = calibration.images("photos", "train", 200, **common)
    check_views = calibration.images("photos", "validation", 200, **common)
    quantised = model if args.layers == "none" else \
        corrected_model(model, calibration_views, args.layers)
    out = os.path.join(args.work, args.layers)
    shutil.rmtree(out, ignore_errors=True)
    ex.export(quantised, out, format="tflite", quantization="int8",
              calibration_data=calibration_views, check_data=check_views, min_agreement=0,
              preprocessing=common["preprocessing"], log=None)
    served = ex.load_export(out)
    for split, x in views.items():
        reference = model.predict(x, batch_size=32, verbose=0)
        got = np.concatenate([served.predict(x[i:i + 25]) for i in range(0, len(x), 25)])
        same = reference.argmax(-1) == got.argmax(-1)
        p = reference.max(-1)
        print(f"{args.layers} {split}: all {same.mean():.3f} of {len(x)}; float32 top-1 >= 0.5: "
              f"{same[p >= 0.5].sum()} / {(p >= 0.5).sum()}; mean |p_int8 - p_float32| "
              f"{np.abs(got - reference).sum(-1).mean():.4f}")


if __name__ == "__main__":
    main()
