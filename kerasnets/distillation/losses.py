"""The KD loss and the distiller, built on `keras.distillation` (Keras >= 3.12).

Specification: Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network"
(arXiv:1503.02531; the seed's "Dark Knowledge" lecture) and, for hints, Romero et al.,
"FitNets: Hints for Thin Deep Nets" (arXiv:1412.6550).

Hinton's loss, from logits z_s (student) and z_t (teacher), with q = softmax(z_t / T) and
p_T = softmax(z_s / T)::

    L = alpha * CE(y, softmax(z_s))  +  (1 - alpha) * T^2 * CE(q, p_T)

`alpha` is the weight of the hard (true-label) term, which is Keras' `student_loss_weight`; the
soft term is multiplied by T^2 so its gradients keep their size as T changes.

How this relates to `keras.distillation` (read in Keras 3.15.1):

- `keras.distillation.LogitsDistillation(temperature)` with its *default* `loss="kl_divergence"`
  does not compute the formula: the string becomes the function `keras.losses.kl_divergence`,
  which fails the loss's `isinstance(loss_fn, keras.losses.KLDivergence)` test, so the divergence
  is taken between the clipped *logits / T* (no softmax) and without T^2. Only an *instance*,
  `LogitsDistillation(T, loss=keras.losses.KLDivergence())`, gives T^2 * KL(q || p_T), which has
  the same gradient as the seed's T^2 * CE(q, p_T) (they differ by T^2 * H(q), constant in the
  student). `KnowledgeDistillation(T)` here computes the seed's cross-entropy by default
  (`objective="kl"` gives Keras' KL value exactly).
- `keras.distillation.Distiller` takes a plain mean of any loss given as a string or function
  (its docstring's `loss="sparse_categorical_crossentropy"`, the defaults "kl_divergence" and
  "mse"), while Keras' optimizers *sum* gradients over replicas: under `MirroredStrategy` with R
  replicas those terms step R times too far (only `keras.losses.Loss` instances divide by R).
  `Distiller` here divides the total loss by R once, whatever the losses are (measured on 2
  logical CPUs: after two steps its weights equal the single-device ones to 3e-8; Keras'
  Distiller with string losses is off by up to 0.2),
  and adds the student's regularisation losses, which Keras' Distiller drops. Losses are
  computed in float32 under mixed precision.
- Keras' Distiller always runs the teacher. `Distiller` here also accepts batches
  `({"images": x, "teacher_logits": z_t}, y)` (see `compute_teacher_logits` and
  `transfer_set`): one teacher pass over the non-augmented transfer set, stored on disk,
  after which a step costs a student step only.

The teacher is frozen and runs in inference mode. Training goes through
`kerasnets.training.fit` (or `model.fit`): both call `Distiller.train_step`.
"""

from __future__ import annotations

from typing import Callable, Mapping

import keras
import tensorflow as tf
from keras import ops

IMAGES = "images"
TEACHER_LOGITS = "teacher_logits"
OBJECTIVES = ("cross_entropy", "kl")


# ----------------------------------------------------------------------------- the KD loss

def soft_target_loss(teacher_logits, student_logits, temperature: float = 4.0, *,
                     objective: str = "cross_entropy"):
    """Per-example soft-target loss T^2 * CE(softmax(z_t/T), softmax(z_s/T)) (or T^2 * KL with
    `objective="kl"`), in float32. Shapes `(batch, classes)`; returns `(batch,)`."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}.")
    t = ops.cast(teacher_logits, "float32") / temperature
    s = ops.cast(student_logits, "float32") / temperature
    q = ops.softmax(t, axis=-1)
    log_p = ops.log_softmax(s, axis=-1)
    per_example = -ops.sum(q * log_p, axis=-1)
    if objective == "kl":
        per_example = per_example + ops.sum(q * ops.log_softmax(t, axis=-1), axis=-1)
    return per_example * (temperature ** 2)


@keras.saving.register_keras_serializable(package="kerasnets")
class KnowledgeDistillation(keras.distillation.LogitsDistillation):
    """Hinton's soft-target term as a `keras.distillation` loss: mean over the batch of
    `soft_target_loss` (T^2-scaled cross-entropy with the teacher's tempered softmax)."""

    def __init__(self, temperature: float = 4.0, objective: str = "cross_entropy"):
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}.")
        super().__init__(temperature=temperature)  # its `loss` is unused: compute_loss below
        self.objective = objective

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        return ops.mean(soft_target_loss(teacher_outputs, student_outputs, self.temperature,
                                         objective=self.objective))

    def get_config(self):
        return {"temperature": self.temperature, "objective": self.objective}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _per_example(loss) -> Callable:
    """A student loss as an unreduced `(y_true, y_pred) -> (batch,)` function, in float32."""
    if loss is None:
        fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True).call
    elif isinstance(loss, keras.losses.Loss):
        fn = loss.call
    elif isinstance(loss, str):
        fn = keras.losses.get(loss)
        if fn is None:
            raise ValueError(f"Unknown loss {loss!r}.")
    elif callable(loss):
        fn = loss
    else:
        raise ValueError(f"loss must be None, a keras Loss, a name or a function; got {loss!r}.")

    def per_example(y_true, y_pred):
        return fn(y_true, ops.cast(y_pred, "float32"))

    return per_example


def _scale_for_replicas(loss):
    """Divide by the number of replicas in sync, as Keras' `Loss` reductions do: gradients are
    summed over replicas by the optimizer."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / replicas if replicas > 1 else loss


def _images(x):
    return x[IMAGES] if isinstance(x, Mapping) else x


# ----------------------------------------------------------------------------- the model

@keras.saving.register_keras_serializable(package="kerasnets")
class Distiller(keras.distillation.Distiller):
    """`keras.distillation.Distiller` with Hinton KD by default, cached teacher logits and
    correct loss scaling under `tf.distribute`.

    `student_loss_weight` is Hinton's `alpha` (weight of the hard-label cross-entropy); by
    default the distillation loss is `KnowledgeDistillation(temperature=4)`. Batches are
    `(images, labels)` (the teacher runs, frozen, in inference mode) or
    `({"images": images, "teacher_logits": logits}, labels)` (cached teacher). The student must
    output logits (`classifier_activation=None`; see `logits_model` for a built model).
    `compile(loss=None)` uses sparse categorical cross-entropy from logits.
    """

    def __init__(self, teacher, student, distillation_losses=None, distillation_loss_weights=None,
                 student_loss_weight: float = 0.1, name: str = "distiller", **kwargs):
        if distillation_losses is None:
            distillation_losses = KnowledgeDistillation(4.0)
        super().__init__(teacher, student, distillation_losses, distillation_loss_weights,
                         student_loss_weight=student_loss_weight, name=name, **kwargs)

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        super().compile(optimizer=optimizer, loss=_per_example(loss), metrics=metrics, **kwargs)

    def call(self, inputs, training=None, **kwargs):
        return self.student(_images(inputs), training=training, **kwargs)

    def _extract_all_teacher_features(self, x):
        if isinstance(x, Mapping) and TEACHER_LOGITS in x:
            if self._teacher_feature_extractor is not None:
                raise ValueError("Cached teacher logits cover the teacher's output only; losses on "
                                 "teacher layers need the live teacher (pass plain images).")
            return {"final_output": x[TEACHER_LOGITS]}
        return super()._extract_all_teacher_features(_images(x))

    def _extract_all_student_features(self, x, y_pred):
        return super()._extract_all_student_features(_images(x), y_pred)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total = super().compute_loss(x, y, y_pred, sample_weight, training)
        if self.student.losses:  # regularisers of the student (Keras' Distiller drops them)
            total = total + ops.sum([ops.cast(l, "float32") for l in self.student.losses])
        return _scale_for_replicas(total)


def distiller(teacher, student, *, temperature: float = 4.0, alpha: float = 0.1,
              objective: str = "cross_entropy") -> Distiller:
    """Hinton KD: `Distiller(teacher, student, KnowledgeDistillation(temperature), alpha)`."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha (the hard-label weight) must be in [0, 1], got {alpha}.")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}.")
    return Distiller(teacher, student, KnowledgeDistillation(temperature, objective),
                     student_loss_weight=alpha)
