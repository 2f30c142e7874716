"""Agreement of the int8 TFLite EfficientNet-Lite0 that `tools.export --quantization int8`
converts by default (200 `train` views of the built-in photos) with float32 Keras, on every view
of the photos set, at several float32-confidence cuts (a measurement aid; see
docs/results/serving_int8_lite0_224.md).

    python tests/scripts/int8_all_views.py /tmp/lite0_int8_all
"""

import argparse
import shutil

import numpy as np

import kerasnets
from kerasnets.deployment import export as ex
from pipelines import calibration


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="directory the int8 export is written to (replaced)")
    parser.add_argument("--model", default="efficientnet_lite0")
    args = parser.parse_args()
    model = kerasnets.create_model(args.model, weights="imagenet")
    common = dict(size=model.input_shape[1], channels=3, input_dtype="float32",
                  preprocessing=kerasnets.model_info(args.model)["preprocessing"])
    calibration_views = calibration.images("photos", "train", 200, **common)
    check_views = calibration.images("photos", "validation", 200, **common)
    shutil.rmtree(args.output, ignore_errors=True)
    # min_agreement=0 keeps the file whatever the check says (the check is reported)
    ex.export(model, args.output, format="tflite", quantization="int8",
              calibration_data=calibration_views, check_data=check_views, min_agreement=0,
              preprocessing=common["preprocessing"])
    served = ex.load_export(args.output)
    for split, count in (("validation", 300), ("train", 1200)):
        x = calibration.images("photos", split, count, **common)
        reference = model.predict(x, batch_size=32, verbose=0)
        got = np.concatenate([served.predict(x[i:i + 25]) for i in range(0, count, 25)])
        same = reference.argmax(-1) == got.argmax(-1)
        p = reference.max(-1)
        cuts = "; ".join(f"float32 top-1 >= {t}: {same[p >= t].sum()} / {(p >= t).sum()}"
                         for t in (0.5, 0.6, 0.7))
        print(f"{split}: {same.mean():.3f} of {count}; {cuts}")
        print(f"  flips where float32 >= 0.5, its probability: "
              f"{[round(float(p[i]), 3) for i in np.where(~same & (p >= 0.5))[0]]}")


if __name__ == "__main__":
    main()
