"""Worker of tests/test_backends.py, run in a fresh process under one KERAS_BACKEND:

    KERAS_BACKEND=jax python tests/backend_outputs.py spec.json

`spec.json`: {"cases": [{"variant", "size", "channels", "weights"}], "inputs": x.npz,
"output": y.npz}. Each case is built with `kerasnets.create_model(variant, input_shape=(size,
size, channels), classifier_activation=None, weights=...)` (a .weights.h5 file saved under
TensorFlow, or "imagenet") and run on inputs[variant]; the logits go to output[variant], the
backend's name to output["__backend__"]. Then each of the README blocks in spec["readme"] (the
training steps README shows for this backend) is executed.
"""

import json
import sys

sys.modules.setdefault("triton", None)  # see tests/torch_equivalence.py

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerasnets  # noqa: E402


def main(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    inputs = np.load(spec["inputs"])
    out = {"__backend__": np.array(keras.backend.backend())}
    for case in spec["cases"]:
        shape = (case["size"], case["size"], case["channels"])
        model = kerasnets.create_model(case["variant"], input_shape=shape,
                                       classifier_activation=None, weights=case["weights"])
        out[case["variant"]] = keras.ops.convert_to_numpy(
            model(inputs[case["variant"]], training=False))
    np.savez(spec["output"], **out)
    for index, code in enumerate(spec.get("readme", [])):
        exec(compile(code, f"README.md {keras.backend.backend()} block {index}", "exec"),
             {"__name__": "readme"})


if __name__ == "__main__":
    main(sys.argv[1])
