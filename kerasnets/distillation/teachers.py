"""Teachers: a trained model without its softmax, ensembles, a pre-trained backbone behind the
student's pipeline, and FitNets hints (Romero et al., "FitNets: Hints for Thin Deep Nets",
arXiv:1412.6550).

Ensembles (`ensemble_teacher`) average the teachers' logits, or their tempered probabilities, in
one `kerasnets.layers.EnsembleLogits` layer; FitNets hints (`hint_models`, `hint_distiller`)
train the student up to its guided layer with a learned regressor (1x1 or FitNets' "valid"
convolution, or Dense) against the teacher's hint layer, then the usual KD stage follows.
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

from kerasnets.deployment import model_card
from kerasnets.distillation.losses import Distiller
from kerasnets.layers import Renormalize
from kerasnets.layers.ensemble import EnsembleLogits
from kerasnets.zoo.registry import create_model, get_entry


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


def _renormalized(inputs, input_preprocessing: str, preprocessing: str, channels: int):
    if input_preprocessing == preprocessing and inputs.shape[-1] == channels:
        return inputs
    return Renormalize(input_preprocessing, preprocessing, channels, name="renormalize")(inputs)


def file_teacher(name: str, path: str, classes: int, *, input_shape, input_preprocessing: str,
                 class_names: Sequence[str] | None = None,
                 model_name: str | None = None) -> keras.Model:
    """A trained teacher from a file, in logits, behind the student's pipeline (`input_shape`,
    normalised by `input_preprocessing`), adapted as `pretrained_teacher` adapts an ImageNet
    one: a `Renormalize` layer gives it its own normalisation and channels.

    A `.keras` file is loaded whole (a fine-tuned model, say): its normalisation is its model
    card's (`kerasnets.deployment.model_card`; without a card, the registry entry `name`'s), a `Resizing`
    layer brings the student's images to its input size, and a card whose class names are not
    `class_names` (the dataset's) is an error naming both lists. Any other weights file is
    loaded into the registry model `name` with `classes` outputs."""
    input_shape = tuple(input_shape)
    inputs = keras.Input(input_shape, name="input")
    if not path.endswith(".keras"):
        entry = get_entry(name)
        x = _renormalized(inputs, input_preprocessing, entry.preprocessing, entry.input_shape[2])
        options = dict(classes=classes, weights=path, classifier_activation=None)
        if x is inputs:
            return create_model(entry.name, input_shape=input_shape, name=model_name or name,
                                **options)
        model = create_model(entry.name, input_tensor=x, **options)
        return keras.Model(inputs, model.output, name=model_name or model.name)
    model, card = model_card.load(path)
    if card is not None and class_names is not None:
        try:
            card.check_classes(class_names, "the dataset")
        except ValueError as e:
            raise ValueError(f"Teacher {path}: {e}") from None
    if model.output_shape[-1] != classes:
        raise ValueError(f"Teacher {path} has {model.output_shape[-1]} outputs; the dataset has "
                         f"{classes} classes.")
    height, width, channels = model.input_shape[1:]
    x = _renormalized(inputs, input_preprocessing,
                      card.preprocessing if card else get_entry(name).preprocessing, channels)
    if height and (height, width) != input_shape[:2]:
        x = layers.Resizing(height, width, name="resize")(x)
    net = logits_model(model)
    net = keras.Model(net.inputs, net.outputs, name=f"{model_name or model.name}_net")
    return keras.Model(inputs, net(x), name=model_name or model.name)


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
