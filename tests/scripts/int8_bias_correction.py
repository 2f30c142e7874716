"""Does bias correction (Nagel et al. 2019, "Data-Free Quantization", section 4.2; empirical
form) bring full-integer TFLite EfficientNet-Lite0 closer to float32? A measurement aid for
docs/results/serving_int8_lite0_224.md.

TFLite folds each BatchNorm into the convolution before it (w_f = w * gamma / sqrt(var + eps))
and quantises w_f per output channel, symmetric, to [-127, 127]. The rounding error e = w_q - w_f
shifts the channel's output by sum(e * E[x]) on average. The script predicts w_q as the converter
computes it, measures E[x] (each convolution's mean input per channel on the calibration views),
and subtracts the shift from the BatchNorm's beta, so the int8 model's expected output is
float32's. The original float32 model stays the reference. (`kerasnets.deployment.export` has done this
for every int8 export since; this script compares none / the first two convolutions / all.)

    python tests/scripts/int8_bias_correction.py /tmp/bc [--layers stem|all]
"""

import argparse
import os
import shutil

import keras
import numpy as np

import kerasnets
from kerasnets.deployment import export as ex
from kerasnets.deployment import quantization as Q
from pipelines import calibration


def corrected_model(model, images, which):
    """`kerasnets.deployment.quantization.bias_corrected` for "all"; for "stem", the same on the first two
    convolutions only (the ones TFLite's quantisation debugger found worst)."""
    if which == "all":
        fixed, correction = Q.bias_corrected(model, images)
        print(correction.describe())
        return fixed
    pairs = Q.conv_bn_pairs(model)[:2]
    means = Q.mean_inputs(model, [conv for conv, _ in pairs], images)
    fixed = keras.models.clone_model(model)
    fixed.set_weights(model.get_weights())
    for (conv, bn), mean in zip(pairs, means):
        shift = Q.output_shift(conv, Q.folded_rounding_error(conv, bn), mean)
        target = fixed.get_layer(bn.name)
        target.beta.assign((target.beta.numpy() - shift).astype("float32"))
    print(f"corrected {len(pairs)} convolutions: {[conv.name for conv, _ in pairs]}")
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
              preprocessing=common["preprocessing"], bias_correction=False, log=None)
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
