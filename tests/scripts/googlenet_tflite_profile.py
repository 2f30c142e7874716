"""Why GoogLeNet's TFLite export is slower than Keras at batch 32 (docs/results/serving_32px.md):
op census of the flatbuffer and interleaved timings of variants in one run (a measurement aid).

    python tests/scripts/googlenet_tflite_profile.py --size 32 --steps 15

Variants: Keras (tf.function), the TFLite export as `kerasnets.deployment.serving` calls it (signature
runner, 2 threads, XNNPACK), the same interpreter pre-sized and invoked directly (no per-call
resize), 1 thread, without the XNNPACK delegate, and the model built with `lrn=False` (its two
LRN layers left out) through the same exporter.
"""

import argparse
import collections
import os
import statistics
import tempfile

import numpy as np


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--batches", default="1,32")
    args = parser.parse_args()
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    import kerasnets
    from kerasnets.measurement.benchmark import interleaved_times
    from kerasnets.deployment.export import export, load_export
    from kerasnets.deployment.serving import keras_predictor

    work = tempfile.mkdtemp()
    shape = (args.size, args.size, 3)
    models = {"lrn": kerasnets.create_model("googlenet", input_shape=shape),
              "no_lrn": kerasnets.create_model("googlenet", input_shape=shape, lrn=False)}
    paths = {}
    for key, model in models.items():
        paths[key] = export(model, os.path.join(work, key), format="tflite", log=None).artifact
        ops = collections.Counter(op["op_name"] for op in
                                  Interpreter(model_path=paths[key])._get_ops_details())
        print(key, "ops:", dict(sorted(ops.items(), key=lambda kv: -kv[1])))

    def direct(path, batch, threads=2, resolver=OpResolverType.AUTO):
        interpreter = Interpreter(model_path=path, num_threads=threads,
                                  experimental_op_resolver_type=resolver)
        inp = interpreter.get_input_details()[0]["index"]
        out = interpreter.get_output_details()[0]["index"]
        interpreter.resize_tensor_input(inp, (batch,) + shape)
        interpreter.allocate_tensors()

        def call(x):
            interpreter.set_tensor(inp, x)
            interpreter.invoke()
            return interpreter.get_tensor(out)
        return call

    for batch in [int(b) for b in args.batches.split(",")]:
        x = np.random.default_rng(0).uniform(-1, 1, (batch,) + shape).astype("float32")
        served = load_export(os.path.dirname(paths["lrn"]), threads=2)
        calls = {
            "keras": keras_predictor(models["lrn"]),
            "tflite_served": served.predict,
            "tflite_direct": direct(paths["lrn"], batch),
            "tflite_1_thread": direct(paths["lrn"], batch, threads=1),
            "tflite_no_xnnpack": direct(paths["lrn"], batch,
                                        resolver=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES),
            "keras_no_lrn": keras_predictor(models["no_lrn"]),
            "tflite_no_lrn": direct(paths["no_lrn"], batch),
        }
        times = interleaved_times({k: (lambda c=c: c(x)) for k, c in calls.items()},
                                  steps=args.steps, warmup=2)
        base = statistics.median(times["keras"])
        for name, t in times.items():
            m = statistics.median(t)
            print(f"batch {batch:3d} {name:18s} {1e3 * m:8.2f} ms  {batch / m:8.1f} img/s  "
                  f"keras/this {base / m:5.2f}x", flush=True)


if __name__ == "__main__":
    main()
