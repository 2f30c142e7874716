"""The four-runtime loader: any export reloaded with its own runtime (TensorFlow for SavedModel,
ai-edge-litert for TFLite, onnxruntime for ONNX, Keras for `.keras`) as one `Served` predictor.
The serving benchmark (`kerasnets.deployment.serving`) reuses it."""

from __future__ import annotations

import json
import os

import keras
import numpy as np

from kerasnets.deployment.export.formats import ARTIFACTS, METADATA


class Served:
    """A reloaded export. `predict(inputs, signature)` returns the probabilities (raw model
    outputs for the `keras` format) as numpy; `outputs` returns every named output of a
    SavedModel signature."""

    def __init__(self, path, *, threads: int | None = None):
        self.path = os.fspath(path)
        meta_path = os.path.join(self.path, METADATA)
        if not os.path.exists(meta_path):
            raise FileNotFoundError(f"{self.path!r} is not a kerasnets export (no {METADATA}).")
        with open(meta_path) as f:
            self.metadata = json.load(f)
        self.format = self.metadata["format"]
        artifact = os.path.join(self.path, ARTIFACTS[self.format])
        if self.format == "saved_model":
            import tensorflow as tf

            self._loaded = tf.saved_model.load(artifact)
            self.signatures = tuple(self._loaded.signatures)
        elif self.format == "tflite":
            from ai_edge_litert.interpreter import Interpreter

            self._interpreter = Interpreter(model_path=artifact, num_threads=threads)
            self._runner = self._interpreter.get_signature_runner("serving_default")
            self._input = self._interpreter.get_signature_list()["serving_default"]["inputs"][0]
            self.signatures = ("serving_default",)
        elif self.format == "onnx":
            import onnxruntime as ort

            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
            self._session = ort.InferenceSession(artifact, options,
                                                 providers=["CPUExecutionProvider"])
            self._input = self._session.get_inputs()[0].name
            self.signatures = ("serving_default",)
        else:
            import kerasnets.applications  # noqa: F401  (registers every custom layer)

            self._model = keras.saving.load_model(artifact, compile=False)
            self.signatures = ("serving_default",)

    def outputs(self, inputs, signature: str = "serving_default") -> dict[str, np.ndarray]:
        if self.format != "saved_model":
            return {"probabilities": self.predict(inputs, signature)}
        import tensorflow as tf

        function = self._loaded.signatures[signature]
        (name,) = function.structured_input_signature[1]
        return {k: v.numpy() for k, v in function(**{name: tf.constant(inputs)}).items()}

    def predict(self, inputs, signature: str = "serving_default") -> np.ndarray:
        if signature not in self.signatures:
            raise ValueError(f"{self.path!r} has no signature {signature!r}; it has "
                             f"{', '.join(self.signatures)}.")
        if self.format == "saved_model":
            return self.outputs(inputs, signature)["probabilities"]
        if self.format == "tflite":
            (out,) = self._runner(**{self._input: np.asarray(inputs)}).values()
            return out
        if self.format == "onnx":
            return self._session.run(None, {self._input: np.asarray(inputs)})[0]
        return np.asarray(self._model(np.asarray(inputs), training=False))


def load_export(path, *, threads: int | None = None) -> Served:
    """Reload an export written by `export` (any format)."""
    return Served(path, threads=threads)
