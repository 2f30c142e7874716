"""Real images for int8 calibration and agreement checks, drawn through the evaluation pipeline.

`kerasnets.deployment.export` takes calibration and check images as arrays (kerasnets never imports
`pipelines`); `tools.export --quantization int8` and `tools.benchmark --serving` get them
here, through `int8_data`:
any source `pipelines.sources.load` reads (the built-in digits, a TFDS name, an image folder,
TFRecords), converted to the model's channels, resized or centre-cropped by a recipe's
evaluation geometry, and returned as the export takes them: uint8 pixels, or model-ready
float32 normalised by the registry's preprocessing mode. `default_source` picks the images a
model is calibrated and checked on when the caller names none: the built-in digits for 10-class
models, the built-in `photos` (views of scikit-image's sample photographs) for ImageNet-class
ones.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# Calibration / check images are drawn by a shuffle over SPREAD x count images of the split.
SPREAD = 5
IMAGENET_CLASSES = (1000, 1001)   # 1001: TF-slim's background class


def default_source(classes: int, dataset: str | None = None, calibration_split: str | None = None,
                   check_split: str | None = None, *, model: str = "the model",
                   photos_available=None) -> tuple[str, str, str]:
    """(dataset, calibration split, check split) for int8 calibration of a model with `classes`
    outputs; values the caller gives win. Default dataset: "digits" for 10 classes, "photos"
    for ImageNet-class models (1000 / 1001) when scikit-image is importable; otherwise a
    ValueError asks for one. Default splits: "train" to calibrate; "validation" to check on
    photos, "test" on any other dataset (digits has no validation split)."""
    from pipelines.sources import photos

    if dataset is None:
        available = (photos_available or photos.available)()
        if classes == 10:
            dataset = "digits"
        elif classes in IMAGENET_CLASSES and available:
            dataset = photos.NAME
        else:
            # Measured: Lite0 (ImageNet) calibrated on upscaled digits agrees with float32 on
            # 75-77% of photo views, 100% (where float32 is confident) calibrated on photos.
            why = ("the built-in 'photos', the default for ImageNet-class models, needs "
                   f"scikit-image: {photos.INSTALL}" if classes in IMAGENET_CLASSES else
                   "the built-in 'digits' suits 10-class digits models and 'photos' ImageNet-"
                   "class ones")
            raise ValueError(f"--quantization int8 needs --calibration_dataset for {model} "
                             f"({classes} classes): images like its training data ({why}; "
                             f"int8 calibrated on images unlike the training data loses "
                             f"accuracy).")
    check_split = check_split or ("validation" if dataset == photos.NAME else "test")
    return dataset, calibration_split or "train", check_split


def images(dataset: str, split: str, count: int, *, size: int, channels: int,
           input_dtype: str = "float32", preprocessing: str | None = None,
           recipe: str | None = None, data_dir: str | None = None,
           seed: int = 0) -> np.ndarray:
    """`count` images of `split` of `dataset` as an array (count, size, size, channels): uint8
    pixels for `input_dtype="uint8"`, else float32 normalised by `preprocessing`. They are drawn
    across the split, not its first `count` (a split stored class by class, as an image folder's
    validation split is, would give a few classes only): a shuffle under `seed` with a buffer
    of `SPREAD` x count images. `recipe` picks the evaluation geometry (default: "none", a
    square resize, for digits; "inception", a 0.875 centre crop, otherwise). Raises ValueError
    when the split holds fewer images."""
    from pipelines import sources, transforms

    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}.")
    if input_dtype != "uint8" and preprocessing is None:
        raise ValueError("float32 calibration images need the model's normalisation: pass "
                         "preprocessing (the registry entry's mode).")
    raw, _ = sources.load(dataset, split, data_dir=data_dir)
    recipe = recipe or ("none" if dataset == "digits" else "inception")
    # "raw" keeps pixels in [0, 255]; the normalisation follows the export's input below.
    raw = raw.shuffle(SPREAD * count, seed=seed, reshuffle_each_iteration=False).take(count)
    ds = transforms.make_dataset(raw, training=False, batch_size=64,
                                 image_size=size, recipe=recipe, preprocessing="raw",
                                 channels=channels)
    batches = [x.numpy() for x, _ in ds]
    pixels = np.concatenate(batches)[:count] if batches else np.zeros((0, size, size, channels))
    if len(pixels) < count:
        raise ValueError(f"{dataset} split {split!r} holds {len(pixels)} image(s); {count} are "
                         f"asked for.")
    if input_dtype == "uint8":
        return np.clip(np.round(pixels), 0, 255).astype("uint8")
    return transforms.normalize(pixels, preprocessing).numpy()


@dataclasses.dataclass(frozen=True)
class Int8Data:
    """The calibration and check images of one model, and where they came from."""
    calibration_data: np.ndarray
    check_data: np.ndarray
    dataset: str
    calibration_split: str
    check_split: str

    def describe(self) -> str:
        return (f"calibrating on {len(self.calibration_data)} {self.calibration_split} images "
                f"of {self.dataset}, checking top-1 agreement on {len(self.check_data)} "
                f"{self.check_split} images")


def int8_data(classes: int, *, size: int, channels: int, preprocessing: str | None,
              dataset: str | None = None, calibration_split: str | None = None,
              check_split: str | None = None, calibration_images: int = 200,
              check_images: int = 200, input_dtype: str = "float32",
              recipe: str | None = None, data_dir: str | None = None,
              model: str = "the model") -> Int8Data:
    """The images int8 exports of a model with `classes` outputs are calibrated and checked on:
    the sources of `default_source` (values given win), `calibration_images` of the
    calibration split and `check_images` of the check split through `images`. The one helper
    of `tools.export --quantization int8` and `tools.benchmark --serving`."""
    dataset, calibration_split, check_split = default_source(
        classes, dataset, calibration_split, check_split, model=model)
    common = dict(size=size, channels=channels, input_dtype=input_dtype,
                  preprocessing=preprocessing, recipe=recipe, data_dir=data_dir)
    return Int8Data(images(dataset, calibration_split, calibration_images, **common),
                    images(dataset, check_split, check_images, **common),
                    dataset, calibration_split, check_split)
