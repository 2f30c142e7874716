r"""Where the int8 TFLite EfficientNet-Lite0 loses top-1 agreement with float32 Keras: one
candidate at a time (output quantisation, calibration set, input quantisation, per-channel
weights, per-stage error), measured on real-photo views (tests/scripts/skimage_views.py).

    python tests/scripts/skimage_views.py /tmp/views --per_photo 120
    python tests/scripts/int8_study.py --views /tmp/views --work /tmp/int8study \
        --steps baseline,float_in,logits,per_tensor,calibration,selective,margins,stable,int16
    python tests/scripts/int8_study.py --steps debugger   # per-layer error, TFLite's debugger

Every converted model and image set is cached under --work; results go to results.json there.

Test views: 200 of the folder's `validation` split, drawn across it by
`pipelines.calibration.images`. Calibration sets never include
them: the `train` split of the same folder (other views of the same ten photographs), views of
other photographs (`other_photos`: scikit-learn's two sample photos and scikit-image's
grey-scale ones, none of the ten), or the built-in digits. A test / measurement aid.
"""

import argparse
import json
import os
import re
import sys

import keras
import numpy as np

OTHER_GREY = ("camera", "clock", "coins", "moon", "brick", "grass", "gravel", "page", "text",
              "cell")


def write_other_photos(folder, per_photo=24, seed=1):
    """Views of photographs that are not in skimage_views.PHOTOS."""
    import tensorflow as tf
    from skimage import data
    from sklearn.datasets import load_sample_images

    sys.path.insert(0, os.path.dirname(__file__))
    from skimage_views import views

    from skimage_views import PHOTOS

    photos = {name: image for name, image in zip(("china", "flower"), load_sample_images().images)
              if name not in PHOTOS}   # china joined the built-in photos on 2026-12-05
    for name in OTHER_GREY:
        image = getattr(data, name)()
        photos[name] = np.stack([image] * 3, -1).astype("uint8")
    rng = np.random.default_rng(seed)
    for name, image in photos.items():
        os.makedirs(os.path.join(folder, name), exist_ok=True)
        for i, view in enumerate(views(image, per_photo, rng)):
            with open(os.path.join(folder, name, f"view_{i:04d}.png"), "wb") as f:
                f.write(tf.io.encode_png(np.ascontiguousarray(view)).numpy())


def pixels(work, key, dataset, split, count):
    from pipelines import calibration

    path = os.path.join(work, f"{key}.npy")
    if not os.path.exists(path):
        np.save(path, calibration.images(dataset, split, count, size=224, channels=3,
                                         input_dtype="uint8"))
    return np.load(path)


def softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def ties(values):
    """Images whose largest value occurs more than once."""
    top = values.max(-1, keepdims=True)
    return int(np.sum((values == top).sum(-1) > 1))


def evaluate(path, test, reference, batch=25):
    """Agreement of the tflite model at `path` with `reference` (float32 Keras probabilities):
    on its output, and on the dequantised input of its last SOFTMAX (when it has one)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=2,
                              experimental_preserve_all_tensors=True)
    ops = interpreter._get_ops_details()
    soft = [op for op in ops if op["op_name"] == "SOFTMAX"]
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    outs, logits = [], []
    for start in range(0, len(test), batch):
        x = test[start:start + batch].astype(inp["dtype"])
        interpreter.resize_tensor_input(inp["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        outs.append(interpreter.get_tensor(out["index"]).astype("float32"))
        if soft:
            index = soft[-1]["inputs"][0]
            detail = [t for t in interpreter.get_tensor_details() if t["index"] == index][0]
            raw = interpreter.get_tensor(index)
            scale, zero = detail["quantization"]
            logits.append((raw.astype("float32") - zero) * scale if scale else raw)
    outs = np.concatenate(outs)
    want = reference.argmax(-1)
    confident = reference.max(-1) >= 0.5
    if outs.min() < 0 or outs.max() > 1.0001:  # logits out
        outs = softmax(outs)
    figures = {"agreement": float(np.mean(outs.argmax(-1) == want)), "output_ties": ties(outs),
               "agreement_confident": float(np.mean(outs.argmax(-1)[confident] == want[confident])),
               "top1_prob_mae": float(np.mean(np.abs(outs.max(-1) - reference.max(-1)))),
               "output_dtype": str(out["dtype"].__name__), "softmax_in_graph": bool(soft),
               "size_mb": round(os.path.getsize(path) / 2**20, 2)}
    if logits:
        logits = np.concatenate(logits)
        confident = reference.max(-1) >= 0.5
        figures["logits_agreement_confident"] = float(np.mean(
            logits.argmax(-1)[confident] == want[confident]))
        figures.update(logits_agreement=float(np.mean(logits.argmax(-1) == want)),
                       logits_ties=ties(logits),
                       logits_dtype=str(interpreter.get_tensor(soft[-1]["inputs"][0]).dtype))
    figures["reference_median_top1"] = float(np.median(reference.max(-1)))
    return figures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--views", default="/tmp/pE/views")
    parser.add_argument("--work", default="/tmp/int8study")
    parser.add_argument("--steps", default="all")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    other = os.path.join(args.work, "other_photos")
    if not os.path.isdir(other):
        write_other_photos(other)
    test = pixels(args.work, "test", args.views, "validation", 200)
    cal = {"train_views": pixels(args.work, "train_views", args.views, "train", 200),
           "other_photos": pixels(args.work, "other_photos", other, "train", 200),
           "digits": pixels(args.work, "digits", "digits", "train", 200)}
    import kerasnets
    from kerasnets.zoo.preprocessing import normalize

    model = kerasnets.create_model("efficientnet_lite0", weights="imagenet")
    mode = kerasnets.get_entry("efficientnet_lite0").preprocessing
    ready = lambda x: normalize(x.astype("float32"), mode).numpy()
    reference = np.asarray(model.predict(ready(test), batch_size=50, verbose=0))
    results_path = os.path.join(args.work, "results.json")
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}

    def record(name, **values):
        results[name] = values
        print(name, json.dumps(values), flush=True)
        with open(results_path, "w") as f:
            json.dump(results, f, indent=1)

    steps = args.steps.split(",")
    run = lambda step: "all" in steps or step in steps
    if run("baseline"):  # the library's export as it is
        from kerasnets.deployment.export.writers import _write_tflite
        path = os.path.join(args.work, "baseline.tflite")
        if not os.path.exists(path):
            _write_tflite(model, path, input_dtype="uint8", preprocessing=mode,
                          quantization="int8", calibration=cal["train_views"])
        record("baseline_train_views", **evaluate(path, test, reference))
    import tensorflow as tf
    from kerasnets.deployment.export import serving_model

    def saved(input_dtype, logits):
        path = os.path.join(args.work, f"sm_{input_dtype}_{'logits' if logits else 'probs'}")
        if not os.path.exists(path):
            net = serving_model(model, input_dtype, mode)
            if logits:  # the same weights, the Dense's softmax off: logits out
                body = kerasnets.create_model("efficientnet_lite0", classifier_activation=None)
                body.set_weights(model.get_weights())
                inputs = keras.Input((224, 224, 3), dtype=input_dtype)
                x = (net.get_layer("normalize")(inputs) if input_dtype == "uint8" else inputs)
                net = keras.Model(inputs, body(x))
            archive = keras.export.ExportArchive()
            archive.track(net)
            archive.add_endpoint("serve", lambda x: net(x, training=False), input_signature=[
                tf.TensorSpec((None, 224, 224, 3), tf.as_dtype(input_dtype))])
            archive.write_out(path, verbose=False)
        return path

    def variant(name, *, input_dtype="float32", logits=False, calibration="train_views",
                per_tensor=False, denylist=(), int16=False):
        path = os.path.join(args.work, name + ".tflite")
        data = cal[calibration] if input_dtype == "uint8" else ready(cal[calibration])
        if not os.path.exists(path):
            converter = tf.lite.TFLiteConverter.from_saved_model(saved(input_dtype, logits))
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([data[i:i + 1]]
                                                        for i in range(len(data)))
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
                if int16 else tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if per_tensor:
                converter._experimental_disable_per_channel = True
            if denylist:
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                                       tf.lite.OpsSet.TFLITE_BUILTINS]
                debugger = tf.lite.experimental.QuantizationDebugger(
                    converter=converter, debug_dataset=lambda: ([data[i:i + 1]] for i in range(2)),
                    debug_options=tf.lite.experimental.QuantizationDebugOptions(
                        denylisted_nodes=list(denylist)))
                flat = debugger.get_nondebug_quantized_model()
            else:
                flat = converter.convert()
            with open(path, "wb") as f:
                f.write(flat)
        x = test if input_dtype == "uint8" else ready(test)
        figures = evaluate(path, x, reference)
        confident = reference.max(-1) >= 0.5
        figures["confident_images"] = int(confident.sum())
        record(name, calibration=calibration, input_dtype=input_dtype, logits_out=logits,
               per_tensor=per_tensor, denylist=list(denylist), int16=int16, **figures)
        return path

    if run("float_in"):
        variant("float_in")
    if run("logits"):
        variant("logits_float_in", logits=True)
    if run("per_tensor"):
        variant("per_tensor", logits=True, per_tensor=True)
    if run("calibration"):
        variant("cal_other_photos", logits=True, calibration="other_photos")
        variant("cal_digits", logits=True, calibration="digits")
    if run("selective"):  # (e) the two layers with ~2.6 steps error (debugger) kept in float
        converter = tf.lite.TFLiteConverter.from_saved_model(saved("float32", True))
        from ai_edge_litert.interpreter import Interpreter
        interp = Interpreter(model_content=converter.convert())
        names = {t["index"]: t["name"] for t in interp.get_tensor_details()}
        ops = [op for op in interp._get_ops_details()
               if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")]
        first = [names[op["outputs"][0]] for op in ops[:2]]
        print("denylisting", [n[:80] for n in first])
        variant("selective_stem_float", logits=True, denylist=first)
    if run("margins"):  # the float model's own margin on the images int8 flips
        path = os.path.join(args.work, "logits_float_in.tflite")
        from ai_edge_litert.interpreter import Interpreter
        interp = Interpreter(model_path=path, num_threads=2)
        runner = interp.get_signature_runner()
        x = ready(test)
        (got,) = runner(**{interp.get_signature_list()["serving_default"]["inputs"][0]:
                           x}).values()
        srt = np.sort(reference, -1)
        margin = srt[:, -1] - srt[:, -2]
        flip = got.argmax(-1) != reference.argmax(-1)
        tie = (got == got.max(-1, keepdims=True)).sum(-1) > 1
        perturbed = ready(np.clip(test.astype("float32") + np.random.default_rng(0).choice(
            [-1.0, 1.0], test.shape), 0, 255))
        noisy = np.asarray(model.predict(perturbed, batch_size=50, verbose=0))
        record("margins", flips=int(flip.sum()), flips_tied=int((flip & tie).sum()),
               flip_margin_median=float(np.median(margin[flip])),
               flip_margin_max=float(margin[flip].max()),
               flip_top1_max=float(reference.max(-1)[flip].max()),
               all_margin_median=float(np.median(margin)),
               images_margin_below_0_05=int((margin < 0.05).sum()),
               float_plus_minus_1_pixel_agreement=float(np.mean(
                   noisy.argmax(-1) == reference.argmax(-1))))
    if run("stable"):  # every variant again, on the images whose float top-1 survives +-1 level
        perturbed = ready(np.clip(test.astype("float32") + np.random.default_rng(0).choice(
            [-1.0, 1.0], test.shape), 0, 255))
        noisy = np.asarray(model.predict(perturbed, batch_size=50, verbose=0))
        stable = noisy.argmax(-1) == reference.argmax(-1)
        from ai_edge_litert.interpreter import Interpreter
        summary = {"stable_images": int(stable.sum())}
        for name in list(results):
            path = os.path.join(args.work, ("baseline" if name.startswith("baseline") else name)
                                + ".tflite")
            if not os.path.exists(path):
                continue
            interp = Interpreter(model_path=path, num_threads=2)
            runner = interp.get_signature_runner()
            key = interp.get_signature_list()["serving_default"]["inputs"][0]
            x = test if "baseline" in name else ready(test)
            got = np.concatenate([next(iter(runner(**{key: x[i:i + 50]}).values()))
                                  for i in range(0, len(x), 50)])
            same = got.argmax(-1) == reference.argmax(-1)
            summary[name] = {"all": float(same.mean()), "stable": float(same[stable].mean())}
            print(name, summary[name], flush=True)
        record("stable_subset", **summary)
    if run("int16"):
        variant("int16x8", logits=True, int16=True)
    if run("debugger"):  # (e) per-layer error of the quantised ops, TFLite's own debugger
        import tensorflow as tf
        from kerasnets.deployment.export import serving_model

        net = serving_model(model)  # float32 model-ready input
        saved = os.path.join(args.work, "serving_float_sm")
        if not os.path.exists(saved):
            archive = keras.export.ExportArchive()
            archive.track(net)
            archive.add_endpoint("serve", lambda x: net(x, training=False), input_signature=[
                tf.TensorSpec((1, 224, 224, 3), tf.float32)])
            archive.write_out(saved, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        calib = ready(cal["train_views"])
        converter.representative_dataset = lambda: ([calib[i:i + 1]] for i in range(200))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        debug = ready(test[:40])
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter,
            debug_dataset=lambda: ([debug[i:i + 1]] for i in range(len(debug))))
        path = os.path.join(args.work, "layer_stats.csv")
        if not os.path.exists(path):
            debugger.run()
            with open(path, "w") as f:
                debugger.layer_statistics_dump(f)
        import csv
        rows = list(csv.DictReader(open(path)))
        for row in rows:
            scale = float(row["scale"])
            row["rmse/scale"] = np.sqrt(float(row["mean_squared_error"])) / scale
            layer = re.search(r"efficientnet_lite0_1/([^/;]+)", row["tensor_name"])
            row["tensor_name"] = layer.group(1) if layer else row["tensor_name"][-40:]
        worst = sorted(rows, key=lambda r: -r["rmse/scale"])[:15]
        for row in [*rows, None, *worst]:
            if row is None:
                print("... worst by rmse/scale:")
                continue
            print(f"{row['op_name']:18s} {row['tensor_name'][-60:]:60s} "
                  f"scale={float(row['scale']):.4g} range={255 * float(row['scale']):.3g} "
                  f"rmse/scale={row['rmse/scale']:.3g} max_abs={float(row['max_abs_error']):.3g}")
        record("layer_stats",
               median_rmse_per_scale=float(np.median([r["rmse/scale"] for r in rows])),
               worst=[(r["tensor_name"], round(r["rmse/scale"], 3), float(r["scale"]))
                      for r in worst[:8]])


if __name__ == "__main__":
    main()
