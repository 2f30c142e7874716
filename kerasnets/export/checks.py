"""Checks of a written export against the Keras model: the reload check on random inputs per
signature (`verify_export`, max abs difference within a tolerance), and for int8 the top-1
agreement on real images with its noise floor (`AgreementCheck`, `top1_agreement`,
`stable_top1`)."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable

import keras
import numpy as np

from kerasnets.deployment.export.formats import (BYTES_SIGNATURE, CONFIDENT, METADATA, MIN_CONFIDENT,
                                      ExportError)
from kerasnets.deployment.export.graph import decode_images, ends_in_softmax
from kerasnets.deployment.export.runtimes import load_export


@dataclasses.dataclass(frozen=True)
class AgreementCheck:
    """An int8 export's top-1 agreement with float32 Keras on real check images.
    `confident_*`: on the images where float32 gives its top class at least `CONFIDENT`
    probability; `min_agreement` is required there. Elsewhere the float32 answer is close to a
    tie and flips under noise far smaller than int8's: `float32_stability` is the share of images
    whose float32 top-1 survives a one pixel-level change of the input (`stable_top1`), the
    noise floor that the agreement on all images is to be read against."""
    agreement: float
    images: int
    confident_agreement: float
    confident_images: int
    float32_stability: float
    float32_median_top1: float

    def describe(self) -> str:
        confident = (f"{self.confident_agreement:.1%} of the {self.confident_images} where "
                     f"float32's top-1 probability is >= {CONFIDENT:g}" if self.confident_images
                     else f"float32's top-1 probability is below {CONFIDENT:g} on all of them")
        return (f"{self.agreement:.1%} of {self.images} image(s); {confident} (float32 itself "
                f"keeps its top-1 under a one pixel-level change on {self.float32_stability:.1%};"
                f" median float32 top-1 probability {self.float32_median_top1:.2f})")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def check_inputs(model, *, preprocessing=None, num=4, seed=0, crop_fraction=0.875
                 ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Inputs for the reload check by input dtype, each with the model-ready float32 images they
    stand for: random pixels (`uint8`), the same normalised (`float32`; in [-1, 1] when
    `preprocessing` is unknown) and, with `preprocessing`, encoded images (`string`: PNG and
    JPEG files of another, non-square size, alternating)."""
    import tensorflow as tf

    from kerasnets.zoo.preprocessing import normalize

    height, width, channels = model.input_shape[1:]
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(num, height, width, channels), dtype=np.uint8)
    if preprocessing is None:  # unknown normalisation: inputs in [-1, 1]
        model_ready = pixels.astype("float32") / 127.5 - 1.0
    else:
        model_ready = normalize(pixels.astype("float32"), preprocessing).numpy()
    kinds = {"float32": (model_ready, model_ready), "uint8": (pixels, model_ready)}
    if preprocessing is not None:
        big = rng.integers(0, 256, size=(num, height * 5 // 4 + 3, width * 3 // 2, 3),
                           dtype=np.uint8)
        encoded = np.array([(tf.io.encode_png if i % 2 == 0 else tf.io.encode_jpeg)(image)
                            .numpy() for i, image in enumerate(big)], dtype=object)
        decoded = decode_images(tf.constant(encoded), height, channels, preprocessing,
                                crop_fraction).numpy()
        kinds["string"] = (encoded, decoded)
    return kinds


def _reference(model, images) -> np.ndarray:
    out = np.asarray(model(images, training=False))
    return out if ends_in_softmax(model) else np.asarray(keras.ops.softmax(out))


def model_ready(images, input_dtype: str, preprocessing: str | None) -> np.ndarray:
    """What the Keras model sees for serving inputs `images`: uint8 pixels normalised by
    `preprocessing`, float32 inputs as they are."""
    if input_dtype != "uint8":
        return np.asarray(images, "float32")
    from kerasnets.zoo.preprocessing import normalize

    return normalize(np.asarray(images).astype("float32"), preprocessing).numpy()


def _top1_matches(served, model, images, *, input_dtype="float32", preprocessing=None,
                  batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Per image of `images` (serving inputs): whether `served` and the Keras model pick the same
    most probable class, and the Keras model's probabilities."""
    images = np.asarray(images)
    same, expected_all = [], []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        got = served.predict(chunk)
        expected = _reference(model, model_ready(chunk, input_dtype, preprocessing))
        if not np.all(np.isfinite(got)):
            raise ExportError(f"The reloaded {served.format} model returns non-finite values.")
        same.append(got.argmax(-1) == expected.argmax(-1))
        expected_all.append(expected)
    return np.concatenate(same), np.concatenate(expected_all)


def top1_agreement(served, model, images, *, input_dtype="float32", preprocessing=None,
                   batch_size: int = 32, return_confidence: bool = False):
    """Fraction of `images` (serving inputs) whose most probable class is the same from the
    reloaded export `served` as from the Keras model (with `return_confidence`, also the
    median top-1 probability of the Keras model on them)."""
    same, expected = _top1_matches(served, model, images, input_dtype=input_dtype,
                                   preprocessing=preprocessing, batch_size=batch_size)
    agreement = float(np.mean(same))
    return ((agreement, float(np.median(expected.max(-1)))) if return_confidence
            else agreement)


def stable_top1(model, images, *, input_dtype="float32", preprocessing=None, seed: int = 0,
                batch_size: int = 32) -> np.ndarray:
    """Per image of `images` (serving inputs): whether the float32 Keras model keeps its most
    probable class when every input value moves by one pixel level, up or down at random
    (uint8 pixels by 1, clipped to [0, 255]; float32 inputs by (max - min) / 255 of `images`).

    An int8 model's input step is about one pixel level and its activations are far coarser, so
    where one pixel level already changes the float32 model's answer, the answer is noise and a
    disagreement says nothing about the quantisation. On real photographs that are not quite
    ImageNet (measured: views of scikit-image's photos), EfficientNet-Lite0's float32 top-1
    survives this on only ~88% of images, and every int8 disagreement measured fell among the
    others (docs/results/serving_int8_lite0_224.md)."""
    images = np.asarray(images)
    rng = np.random.default_rng(seed)
    sign = rng.choice(np.array([-1.0, 1.0], "float32"), size=images.shape)
    if input_dtype == "uint8":
        moved = np.clip(images.astype("float32") + sign, 0, 255).astype("uint8")
    else:
        values = images.astype("float32")
        step = (float(values.max()) - float(values.min())) / 255.0
        moved = values + step * sign
    keep = []
    for start in range(0, len(images), batch_size):
        part = slice(start, start + batch_size)
        before = _reference(model, model_ready(images[part], input_dtype, preprocessing))
        after = _reference(model, model_ready(moved[part], input_dtype, preprocessing))
        keep.append(before.argmax(-1) == after.argmax(-1))
    return np.concatenate(keep)


def verify_export(path, model, *, input_dtype="float32", preprocessing=None, tolerance=1e-4,
                  num=4, seed=0, crop_fraction=0.875, agreement_data=None,
                  min_agreement: float | None = None,
                  log: Callable[[str], None] | None = print
                  ) -> tuple[float, tuple[str, ...]] | tuple[float, tuple[str, ...],
                                                          AgreementCheck]:
    """Reload the export at `path`, run every signature on `num` check inputs (as one batch and
    as a batch of one) and compare with the Keras model. Returns (max abs difference, checked
    signatures); raises ExportError above `tolerance`. With `agreement_data` (serving inputs,
    real images), also the top-1 agreement with the Keras model on them as a third value (an
    `AgreementCheck`); raises ExportError when the agreement on the images where float32's
    top-1 probability is at least `CONFIDENT` is below `min_agreement`, or when there are fewer
    than `MIN_CONFIDENT` of them (with a `min_agreement` of 0 or None, nothing is enforced)."""
    try:
        served = load_export(path)
    except Exception as error:
        raise ExportError(f"The exported {_format_of(path)} artifact cannot be reloaded: "
                          f"{str(error).strip()[:2000]}") from error
    kinds = check_inputs(model, preprocessing=preprocessing, num=num, seed=seed,
                         crop_fraction=crop_fraction)
    plan = {"serving_default": input_dtype}
    if BYTES_SIGNATURE in served.signatures:
        plan[BYTES_SIGNATURE] = "string"
    worst = 0.0
    for signature, kind in plan.items():
        inputs, model_ready = kinds[kind]
        expected = (np.asarray(model(model_ready, training=False)) if served.format == "keras"
                    else _reference(model, model_ready))
        diffs = []
        for batch in (slice(None), slice(0, 1)):
            got = served.predict(inputs[batch], signature)
            if got.shape != expected[batch].shape:
                raise ExportError(f"{signature}: the reloaded {served.format} model returns shape "
                                  f"{got.shape}, the Keras model {expected[batch].shape}.")
            diffs.append(float(np.max(np.abs(got - expected[batch]))))
            if not diffs[-1] <= tolerance:  # also catches NaN
                raise ExportError(f"{signature}: the reloaded {served.format} model differs from "
                                  f"the Keras model by {diffs[-1]:.3g} (max abs, tolerance "
                                  f"{tolerance:g}) on {len(got)} check input(s).")
        if served.format == "saved_model":
            named = served.outputs(inputs, signature)
            best = np.take_along_axis(named["probabilities"], named["top_k_classes"][:, :1], -1)
            if not np.array_equal(best[:, 0], named["probabilities"].max(-1)):
                raise ExportError(f"{signature}: top_k_classes does not start at the most "
                                  f"probable class.")
        worst = max([worst] + diffs)
        if log:
            log(f"  {signature}: max abs difference {max(diffs):.3g} (tolerance {tolerance:g}) "
                f"on {num} {kind} input(s), batches of {num} and 1")
    if agreement_data is None:
        return worst, tuple(plan)
    same, expected = _top1_matches(served, model, agreement_data, input_dtype=input_dtype,
                                   preprocessing=preprocessing)
    stable = stable_top1(model, agreement_data, input_dtype=input_dtype,
                         preprocessing=preprocessing, seed=seed)
    confident = expected.max(-1) >= CONFIDENT
    check = AgreementCheck(
        agreement=float(np.mean(same)), images=len(same),
        confident_agreement=float(np.mean(same[confident])) if confident.any() else float("nan"),
        confident_images=int(confident.sum()), float32_stability=float(np.mean(stable)),
        float32_median_top1=float(np.median(expected.max(-1))))
    if log:
        log(f"  top-1 agreement with the float32 Keras model: {check.describe()}"
            + (f" (at least {min_agreement:.1%} required on the confident ones)"
               if min_agreement is not None else ""))
    needed = min(MIN_CONFIDENT, max(1, check.images // 2))
    if min_agreement:
        if check.confident_images < needed:
            raise ExportError(
                f"The float32 Keras model gives its top class {CONFIDENT:g} probability or more "
                f"on {check.confident_images} of the {check.images} check image(s) (median "
                f"top-1 probability {check.float32_median_top1:.2f}; at least {needed} "
                f"needed), so they cannot show whether the "
                f"{served.format} model agrees with it ({check.describe()}): check on images "
                f"like the model's training data, or skip the check with min_agreement=0 "
                f"(tools.export --min_agreement 0).")
        if check.confident_agreement < min_agreement:
            raise ExportError(
                f"The reloaded {served.format} model agrees with the Keras model on the top-1 "
                f"class of {check.describe()}: below the {min_agreement:.1%} required on the "
                f"confident ones. Calibration images unlike the model's training data are the "
                f"usual cause (measured: EfficientNet-Lite0 calibrated on upscaled digits "
                f"agrees on 79% of the confident photo views, on 100% when calibrated on "
                f"photos): calibrate on images like the training data "
                f"(tools.export --calibration_dataset), or accept a lower --min_agreement.")
    return worst, tuple(plan), check


def _format_of(path):
    try:
        with open(os.path.join(path, METADATA)) as f:
            return json.load(f)["format"]
    except (OSError, ValueError, KeyError):
        return "model"
