"""Combining several teachers' logits in one layer (kerasnets.distillation's ensembles)."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

ENSEMBLE_MODES = ("logits", "probabilities")


@keras.saving.register_keras_serializable(package="kerasnets")
class EnsembleLogits(layers.Layer):
    """Combine the logits of several teachers.

    `mode="logits"`: their mean. `mode="probabilities"`: T * log(mean_k softmax(z_k / T)), the
    logits whose tempered softmax is the mean of the teachers' tempered probabilities (so the KD
    loss at the same T sees exactly that mean). Computed in float32.
    """

    def __init__(self, mode: str = "logits", temperature: float = 1.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if mode not in ENSEMBLE_MODES:
            raise ValueError(f"mode must be one of {ENSEMBLE_MODES}, got {mode!r}.")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        self.mode, self.temperature = mode, float(temperature)

    def call(self, inputs):
        z = ops.stack([ops.cast(x, "float32") for x in inputs], axis=0)
        if self.mode == "logits":
            return ops.mean(z, axis=0)
        t = self.temperature
        log_p = ops.log_softmax(z / t, axis=-1)
        return t * (ops.logsumexp(log_p, axis=0) - np.log(len(inputs)).astype("float32"))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "temperature": self.temperature}
