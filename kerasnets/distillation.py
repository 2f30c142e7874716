"""Teacher-student training built on `keras.distillation` (Keras >= 3.12).

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
- Ensembles (`ensemble_teacher`) average the teachers' logits, or their tempered probabilities;
  FitNets hints (`hint_models`, `hint_distiller`) train the student up to its guided layer with
  a learned regressor (1x1 or FitNets' "valid" convolution, or Dense) against the teacher's hint
  layer, then the usual KD stage follows.

The teacher is frozen and runs in inference mode. Training goes through
`kerasnets.training.fit` (or `model.fit`): both call `Distiller.train_step`.
"""

from __future__ import annotations

import os
from typing import Callable, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from kerasnets.layers.ensemble import ENSEMBLE_MODES, EnsembleLogits  # noqa: F401 (re-export)

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


# ----------------------------------------------------------------------------- teachers

def logits_model(model: keras.Model) -> keras.Model:
    """`model` itself when it ends in logits; else the same network (same layers; the output
    layer rebuilt with `activation=None` and its weights copied) without its final softmax."""
    last = model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", None)
    if isinstance(last, layers.Softmax) or (isinstance(last, layers.Activation)
                                           and activation == "softmax"):
        return keras.Model(model.inputs, last.input, name=model.name)
    if activation in (None, "linear"):
        return model
    config = last.get_config()
    if activation != "softmax" or "activation" not in config:
        raise ValueError(f"{model.name}: the last layer {last.name!r} has activation "
                         f"{activation!r}; expected logits or a softmax output layer.")
    head = type(last).from_config({**config, "activation": None})
    outputs = head(last.input)
    head.set_weights(last.get_weights())
    return keras.Model(model.inputs, outputs, name=model.name)


def ensemble_teacher(teachers: Sequence[keras.Model], *, mode: str = "logits",
                     temperature: float = 1.0, name: str = "ensemble") -> keras.Model:
    """One frozen teacher model whose output combines `teachers`' logits (`EnsembleLogits`);
    each teacher runs in inference mode. For `mode="probabilities"` pass the KD temperature."""
    teachers = list(teachers)
    if not teachers:
        raise ValueError("ensemble_teacher needs at least one teacher.")
    if len(teachers) == 1:
        return teachers[0]
    names = [t.name for t in teachers]
    if len(set(names)) != len(names):
        raise ValueError(f"Ensemble teachers need distinct names, got {names}; build them with "
                         "name=... (e.g. 'teacher0', 'teacher1').")
    shapes = {tuple(t.input_shape[1:]) for t in teachers}
    classes = {t.output_shape[-1] for t in teachers}
    if len(shapes) > 1 or len(classes) > 1:
        raise ValueError(f"Ensemble teachers must share input shape and classes; got input "
                         f"shapes {sorted(shapes)} and classes {sorted(classes)}.")
    inputs = keras.Input(teachers[0].input_shape[1:], name="input")
    for t in teachers:
        t.trainable = False
    outputs = EnsembleLogits(mode, temperature, name="ensemble_logits")(
        [t(inputs, training=False) for t in teachers])
    model = keras.Model(inputs, outputs, name=name)
    model.trainable = False
    return model


def pretrained_teacher(name: str, classes: int, *, input_shape, input_preprocessing: str,
                       weights="imagenet", pooling: str = "avg", dropout: float = 0.0,
                       model_name: str | None = None) -> keras.Model:
    """A teacher from a pre-trained registry backbone, behind the student's pipeline.

    Its input is the student's (`input_shape`, normalised by `input_preprocessing`); a
    `kerasnets.layers.Renormalize` layer turns it into the backbone's own normalisation and
    channels (left out where they already agree). Then the backbone with `weights` ("imagenet"
    or a file, as `transfer.build_classifier` takes them), *frozen*, and a new head of `classes`
    logits (`backbone_out`, `head_pool`, `predictions`, randomly initialised): train it with
    `transfer.fine_tune(teacher, ..., freeze_upto="backbone_out")` before distilling. The
    backbone keeps its layer names, so FitNets hints can tap its `stage{s}_out`."""
    from kerasnets import transfer
    from kerasnets.layers import Renormalize
    from kerasnets.registry import get_entry

    entry = get_entry(name)
    input_shape = tuple(input_shape)
    inputs = keras.Input(input_shape, name="input")
    x = inputs
    channels = entry.input_shape[2]
    if input_preprocessing != entry.preprocessing or input_shape[-1] != channels:
        x = Renormalize(input_preprocessing, entry.preprocessing, channels,
                        name="renormalize")(inputs)
    model = transfer.build_classifier(entry.name, classes, weights=weights, input_tensor=x,
                                      pooling=pooling, dropout=dropout,
                                      classifier_activation=None, name=model_name)
    # The builder's input_tensor path gives the inputs as a list: one tensor in, as usual.
    model = keras.Model(inputs, model.output, name=model.name)
    transfer.freeze(model, transfer.BACKBONE_OUT)
    return model


# ----------------------------------------------------------------------------- FitNets hints

def _tap(model: keras.Model, name: str, role: str):
    try:
        return model.get_layer(name).output
    except ValueError:
        stages = [l.name for l in model.layers if l.name.endswith("_out")]
        hint = f" Stage outputs: {', '.join(stages)}." if stages else ""
        raise ValueError(f"The {role} {model.name!r} has no layer named {name!r}.{hint}") from None


def hint_regressor(student_shape, teacher_shape, *, activation=None, name="regressor"):
    """FitNets' regressor r mapping the student's guided features to the teacher's hint shape
    (batch dimension excluded): None when the shapes already match; Dense for vectors; a 1x1
    convolution for equal spatial sizes; else a "valid" convolution of kernel
    (H_s - H_t + 1, W_s - W_t + 1) (FitNets eq. 3). A student map smaller than the teacher's
    is refused."""
    student_shape, teacher_shape = tuple(student_shape), tuple(teacher_shape)
    if student_shape == teacher_shape and activation is None:
        return None
    if len(student_shape) != len(teacher_shape) or len(student_shape) not in (1, 3):
        raise ValueError(f"Hint shapes must both be vectors or both feature maps; got student "
                         f"{student_shape} and teacher {teacher_shape}.")
    if len(student_shape) == 1:
        return layers.Dense(teacher_shape[0], activation=activation, name=name)
    (hs, ws, _), (ht, wt, ct) = student_shape, teacher_shape
    if None in (hs, ws, ht, wt):
        if (hs, ws) != (ht, wt):
            raise ValueError("Hint layers of unknown spatial size must match exactly; build the "
                             "models with a fixed input_shape.")
        return layers.Conv2D(ct, 1, activation=activation, name=name)
    if hs < ht or ws < wt:
        raise ValueError(f"The student's guided layer ({hs}x{ws}) is smaller than the teacher's "
                         f"hint layer ({ht}x{wt}); pick an earlier student layer or a later "
                         "teacher layer.")
    return layers.Conv2D(ct, (hs - ht + 1, ws - wt + 1), padding="valid", activation=activation,
                         name=name)


def hint_models(teacher: keras.Model, student: keras.Model,
                hints: Sequence[tuple[str, str]], *, activation=None):
    """`(teacher_taps, student_taps)` for FitNets' first stage: the teacher up to its hint
    layers and the student up to its guided layers followed by regressors (`hint_regressor`),
    named `hint{i}_regressor`. `hints` are `(teacher_layer, student_layer)` pairs, e.g.
    `[("stage2_out", "stage1_out")]`. The student taps share the student's layers."""
    if not hints:
        raise ValueError("hints is empty; give (teacher_layer, student_layer) pairs.")
    t_out, s_out = [], []
    for i, (t_name, s_name) in enumerate(hints):
        t, s = _tap(teacher, t_name, "teacher"), _tap(student, s_name, "student")
        regressor = hint_regressor(s.shape[1:], t.shape[1:], activation=activation,
                                   name=f"hint{i}_regressor")
        t_out.append(t)
        s_out.append(regressor(s) if regressor is not None else s)
    one = len(hints) == 1
    return (keras.Model(teacher.inputs, t_out[0] if one else t_out, name=f"{teacher.name}_hints"),
            keras.Model(student.inputs, s_out[0] if one else s_out, name=f"{student.name}_guided"))


def hint_distiller(teacher: keras.Model, student: keras.Model,
                   hints: Sequence[tuple[str, str]], *, activation=None) -> Distiller:
    """FitNets stage 1: a `Distiller` that trains the student's layers up to its guided layers
    (and the regressors) to predict the teacher's hint layers, mean squared error only
    (`student_loss_weight=0`). Stage 2 is the usual KD `distiller` on the whole student."""
    teacher_taps, student_taps = hint_models(teacher, student, hints, activation=activation)
    loss = "mse" if len(hints) == 1 else ["mse"] * len(hints)
    return Distiller(teacher_taps, student_taps, keras.distillation.FeatureDistillation(loss),
                     student_loss_weight=0.0, name="hint_distiller")


# ----------------------------------------------------------------------------- cached teacher

def compute_teacher_logits(teacher: keras.Model, examples: tf.data.Dataset, *,
                           batch_size: int = 256, path=None, key: str = "") -> np.ndarray:
    """The teacher's logits over an UNBATCHED, deterministic (non-augmented, unshuffled)
    dataset of `(image, label)` or images, in order, as float32 `(N, classes)`.

    With `path` (an `.npz`), they are stored there (written to a temporary file, then moved
    into place) together with `key` (e.g. teacher weights + dataset + preprocessing); a later
    call with the same key and example count loads them instead of running the teacher."""
    if path is not None and os.path.exists(path):
        with np.load(path, allow_pickle=False) as cached:
            if str(cached["key"]) == key:
                return cached["logits"]
    images = examples.map(lambda *e: e[0])
    batched = images.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    predict = tf.function(lambda x: teacher(x, training=False), reduce_retracing=True)
    logits = np.concatenate([np.asarray(predict(x), dtype="float32") for x in batched])
    if path is not None:
        from kerasnets.utils import atomic_file

        with atomic_file(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, logits=logits, key=np.array(key))
    return logits


def transfer_set(examples: tf.data.Dataset, logits: np.ndarray | None = None, *,
                 batch_size: int, shuffle: bool = True, seed: int | None = None,
                 exclude_labels: Sequence[int] = (), drop_remainder: bool = False,
                 shuffle_buffer: int = 1 << 16) -> tf.data.Dataset:
    """Training batches from the non-augmented transfer set: `examples` (unbatched
    `(image, label)`, in the order `compute_teacher_logits` saw) kept in memory and reshuffled
    every epoch. With `logits`, batches are `({"images": x, "teacher_logits": z_t}, y)` for
    `Distiller` (cached teacher); without, `(x, y)` in the same order for the same `seed`.
    `exclude_labels` leaves those classes out (Hinton's "never saw a 3" transfer set)."""
    if logits is not None:
        n = int(examples.cardinality())
        if n >= 0 and n != len(logits):
            raise ValueError(f"{len(logits)} cached teacher logits for {n} examples; recompute "
                             "them (the transfer set changed).")
        ds = tf.data.Dataset.zip(examples, tf.data.Dataset.from_tensor_slices(logits))
        ds = ds.map(lambda e, z: ({IMAGES: e[0], TEACHER_LOGITS: z}, e[1]))
    else:
        ds = examples
    if exclude_labels:
        excluded = tf.constant(list(exclude_labels), tf.int64)
        ds = ds.filter(lambda x, y: tf.reduce_all(tf.not_equal(tf.cast(y, tf.int64), excluded)))
    ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


# ----------------------------------------------------------------------------- "never saw a 3"

def shift_class_bias(model: keras.Model, class_index: int, shift: float,
                     layer: str = "predictions") -> None:
    """Add `shift` to the bias of one class in the classifier layer (in place)."""
    dense = model.get_layer(layer)
    kernel, bias = dense.get_weights()
    bias = bias.copy()
    bias[class_index] += shift
    dense.set_weights([kernel, bias])


def best_bias_shift(logits: np.ndarray, labels: np.ndarray, class_index: int,
                    shifts: Sequence[float] = tuple(np.arange(0.0, 15.01, 0.25))) -> float:
    """The bias shift for `class_index`, among `shifts`, that maximises accuracy over all
    classes of `(logits, labels)` (Hinton et al. sec. 3 raise the omitted 3's bias by 3.5)."""
    logits, labels = np.asarray(logits, "float64"), np.asarray(labels)
    best, best_acc = 0.0, -1.0
    for shift in shifts:
        z = logits.copy()
        z[:, class_index] += shift
        acc = float(np.mean(z.argmax(-1) == labels))
        if acc > best_acc + 1e-12:
            best, best_acc = float(shift), acc
    return best


# ----------------------------------------------------------------------------- Hinton's MNIST nets

def hinton_mlp(hidden: Sequence[int], *, input_shape=(28, 28, 1), classes: int = 10,
               dropout: float = 0.0, input_dropout: float = 0.0, jitter: float = 0.0,
               max_norm: float | None = None, classifier_activation=None,
               name: str = "mlp") -> keras.Model:
    """Hinton et al.'s MNIST nets: ReLU MLPs on the flattened image (784-1200-1200-10 teacher
    with dropout, weight constraints and jitter; 784-800-800-10 student without).

    Inputs are float pixels in [0, 255] (preprocessing "raw": the model rescales inside).
    `jitter` translates the input by up to that many pixels (bilinear, zero fill) while training
    (RandomTranslation); Hinton's 2 pixels at 28 px are about half a pixel at digits' 8 px.
    `max_norm` bounds each hidden unit's incoming weight vector. Layers: `stem_rescale`,
    `stem_jitter`, `stem_flatten`, `stage{s}_block1_dense`, `stage{s}_block1_dropout`,
    `stage{s}_out`, `predictions`.
    """
    inputs = keras.Input(tuple(input_shape), name="input")
    x = layers.Rescaling(1.0 / 255, name="stem_rescale")(inputs)
    if jitter:
        h, w = input_shape[0], input_shape[1]
        x = layers.RandomTranslation(jitter / h, jitter / w, fill_mode="constant",
                                     interpolation="bilinear", name="stem_jitter")(x)
    x = layers.Flatten(name="stem_flatten")(x)
    if input_dropout:
        x = layers.Dropout(input_dropout, name="stem_dropout")(x)
    constraint = keras.constraints.MaxNorm(max_norm) if max_norm else None
    for s, units in enumerate(hidden, start=1):
        x = layers.Dense(units, activation="relu", kernel_constraint=constraint,
                         name=f"stage{s}_block1_dense")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"stage{s}_block1_dropout")(x)
        x = layers.Identity(name=f"stage{s}_out")(x)
    from kerasnets.applications._common import head_dtype

    outputs = layers.Dense(classes, activation=classifier_activation, name="predictions",
                           dtype=head_dtype())(x)
    return keras.Model(inputs, outputs, name=name)


# name -> (builder keyword arguments); the teacher is regularised, the student is not.
MLPS = {
    "mlp_1200": dict(hidden=(1200, 1200), dropout=0.5, input_dropout=0.2, jitter=0.5,
                     max_norm=3.5),
    "mlp_800": dict(hidden=(800, 800)),
}


def build_mlp(name: str, *, input_shape, classes: int, classifier_activation=None,
              model_name: str | None = None) -> keras.Model:
    """One of `MLPS` by name (`mlp_1200` teacher, `mlp_800` student)."""
    if name not in MLPS:
        raise ValueError(f"Unknown MLP {name!r}; choose one of {', '.join(MLPS)}.")
    return hinton_mlp(input_shape=input_shape, classes=classes,
                      classifier_activation=classifier_activation, name=model_name or name,
                      **MLPS[name])


# ----------------------------------------------------------------------------- step timing

def _compiled_step(model: keras.Model, batch):
    """`model.train_step` as a tf.function, after one `fit` step that builds the optimizer and
    metrics (the first call is a warm-up)."""
    data = tf.data.Dataset.from_tensors(batch)
    model.fit(data, epochs=1, verbose=0, shuffle=False)
    step = tf.function(model.train_step)
    return lambda: step(batch)


def measure_step_times(teacher: keras.Model, student_builder: Callable[[], keras.Model], *,
                       batch_size: int = 32, temperature: float = 4.0, alpha: float = 0.1,
                       steps: int = 20, warmup: int = 3, seed: int = 0) -> dict[str, float]:
    """Median seconds of one training step on the same random batch, steps interleaved:
    `student` (plain, hard labels), `kd_live` (teacher run in the step), `kd_cached` (teacher
    logits in the batch), and `teacher_forward` (inference alone). `student_builder()` makes a
    fresh logits student per variant (same architecture)."""
    rng = np.random.default_rng(seed)
    shape = (batch_size,) + tuple(teacher.input_shape[1:])
    x = tf.constant(rng.uniform(0, 255, size=shape).astype("float32"))
    classes = teacher.output_shape[-1]
    y = tf.constant(rng.integers(0, classes, size=(batch_size,)))
    z = tf.constant(np.asarray(teacher(x, training=False), "float32"))

    plain = student_builder()
    plain.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    live = distiller(teacher, student_builder(), temperature=temperature, alpha=alpha)
    cached = distiller(teacher, student_builder(), temperature=temperature, alpha=alpha)
    for d in (live, cached):
        d.compile(optimizer=keras.optimizers.SGD(0.01))
    forward = tf.function(lambda: teacher(x, training=False))
    fns = {"student": _compiled_step(plain, (x, y)),
           "kd_live": _compiled_step(live, (x, y)),
           "kd_cached": _compiled_step(cached, ({IMAGES: x, TEACHER_LOGITS: z}, y)),
           "teacher_forward": forward}
    from kerasnets.benchmark import interleaved_times, medians  # the one timing loop

    return medians(interleaved_times(fns, steps=steps, warmup=warmup))
