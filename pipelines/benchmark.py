"""Input-pipeline throughput: images/s of decode + augment alone, against the model's training.

A training input pipeline keeps an accelerator busy only if it delivers images faster than the
model consumes them. `benchmark_pipeline` measures, on the same machine, (a) the images/s of
`pipelines.transforms.make_dataset` over a folder of JPEGs for each recipe -- reading, decoding,
augmenting, normalising and batching, nothing else -- and (b) the training images/s of a
registry model on random data (`kerasnets.measurement.benchmark`), and reports their ratio (the target: the
pipeline >= 10x the model). With no folder given it writes random JPEGs of 300-500 px first.
Both figures share the machine's cores, so the ratio is what matters; `python -m tools.benchmark
--pipeline` writes `pipeline_table`'s table.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from kerasnets.results import Table
from kerasnets.utils import atomic_directory
from pipelines import transforms as T
import kerasnets
from kerasnets.measurement.benchmark import benchmark_models
from kerasnets.measurement.precision import choose, keras_policy, set_rewrite
from pipelines.sources import load

DEFAULT_RECIPES = ("alexnet", "vgg", "inception", "cifar", "none", "inception+randaugment")


def write_random_jpegs(directory, *, num_images: int = 300, num_classes: int = 4,
                       size_range: tuple[int, int] = (300, 500), seed: int = 0,
                       quality: int = 90) -> str:
    """Write an image folder `directory/class_k/img_XXXXX.jpg` of smooth random images (random
    heights and widths in `size_range`; blurred colour blobs plus mild noise, so JPEG sizes and
    decode costs are photo-like, unlike white noise). The folder appears whole or not at all."""
    rng = np.random.default_rng(seed)
    with atomic_directory(directory) as tmp:
        for k in range(num_classes):
            os.makedirs(os.path.join(tmp, f"class_{k}"))
        for i in range(num_images):
            h, w = (int(v) for v in rng.integers(size_range[0], size_range[1] + 1, size=2))
            blobs = rng.uniform(0, 255, (h // 32 + 2, w // 32 + 2, 3)).astype("float32")
            image = tf.image.resize(blobs, (h, w), method="bicubic").numpy()
            image += rng.normal(0, 8, image.shape)
            data = tf.io.encode_jpeg(np.clip(image, 0, 255).astype("uint8"), quality=quality)
            path = os.path.join(tmp, f"class_{i % num_classes}", f"img_{i:05d}.jpg")
            with open(path, "wb") as f:
                f.write(data.numpy())
    return os.fspath(directory)


def load_folder(directory, *, seed: int = 0) -> tuple[tf.data.Dataset, int]:
    """Unbatched (uint8 image, int64 label) pairs of an image folder, decoded in parallel, and
    the number of classes (`pipelines.sources.load`, headers checked)."""
    ds, info = load(os.fspath(directory), "all", seed=seed, verify="header")
    return ds, info.num_classes


def recipe_kwargs(spec: str) -> dict:
    """make_dataset keywords of a recipe spec: a recipe name, optionally with `+randaugment`,
    `+mixup` (alpha 0.2) and `+cutmix` (factor 1.0), e.g. "inception+randaugment"."""
    name, *options = spec.split("+")
    kwargs = {"recipe": T._check("recipe", name, T.RECIPES)}
    for option in options:
        if option == "randaugment":
            kwargs["randaugment"] = True
        elif option in ("mixup", "cutmix"):
            kwargs[option] = 0.2 if option == "mixup" else 1.0
        else:
            raise ValueError(f"Unknown option {option!r} in recipe spec {spec!r}; expected "
                             "randaugment, mixup or cutmix.")
    return kwargs


def pipeline_throughput(ds: tf.data.Dataset, *, batches: int = 10, warmup: int = 2) -> dict:
    """Images/s of a batched dataset: `warmup` batches first (tracing, buffers filling), then
    `batches` timed ones (the dataset repeats as needed)."""
    iterator = iter(ds.repeat())
    for _ in range(warmup):
        next(iterator)
    images, start = 0, time.perf_counter()
    for _ in range(batches):
        images += int(tf.shape(tf.nest.flatten(next(iterator))[0])[0])
    seconds = time.perf_counter() - start
    return {"pipeline_img_s": images / seconds, "images": images, "seconds": seconds}


def model_train_throughput(model_name: str, *, image_size: int, batch_size: int, steps: int = 3,
                           warmup: int = 1, precision: str = "auto") -> dict:
    """Training (and inference) images/s of a registry model on random data, median step, in
    the precision `kerasnets.measurement.precision` chooses for it (`precision="auto"`): the pipeline must
    keep up with the model as it will train on this machine."""
    import keras

    shape = (image_size, image_size, kerasnets.get_entry(model_name).input_shape[2])
    choice = choose(precision, "false", model=model_name, input_shape=shape,
                    batch_size=batch_size)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_dtype_policy(keras_policy(choice.precision))
    rewrite = set_rewrite(choice.precision == "onednn_bfloat16")
    try:
        (row,) = benchmark_models([lambda: kerasnets.create_model(model_name, input_shape=shape)],
                                  batch_size=batch_size, steps=steps, warmup=warmup, train=True)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
        set_rewrite(rewrite)
    return {"model_train_img_s": row["train_img_s"], "model_infer_img_s": row["infer_img_s"],
            "model_precision": choice.precision}


def benchmark_pipeline(data_dir=None, *, model_name: str = "resnet50",
                       recipes: Sequence[str] = DEFAULT_RECIPES, image_size: int | None = None,
                       batch_size: int = 32, batches: int = 10, warmup: int = 2,
                       model_steps: int = 3, model_warmup: int = 1, num_images: int = 300,
                       seed: int = 0, callback: Callable[[int, dict], None] | None = None
                       ) -> list[dict]:
    """One row per recipe spec: pipeline images/s on the JPEG folder `data_dir` (random JPEGs in
    a temporary folder when None), the model's training images/s at the same size and batch,
    and their ratio. Channels, normalisation and default size are the model's registry entry's.
    `callback(i, row)` is called as rows complete (a tool's progress bar)."""
    defaults = T.model_defaults(model_name)
    image_size = image_size or defaults["image_size"]
    specs = [(spec, recipe_kwargs(spec)) for spec in recipes]  # bad specs fail before any work
    with tempfile.TemporaryDirectory(prefix="kerasnets-jpegs-") as tmp:
        if data_dir is None:
            data_dir = write_random_jpegs(os.path.join(tmp, "images"), num_images=num_images,
                                          seed=seed)
        source, num_classes = load_folder(data_dir, seed=seed)
        model = model_train_throughput(model_name, image_size=image_size, batch_size=batch_size,
                                       steps=model_steps, warmup=model_warmup)
        rows = []
        for i, (spec, kwargs) in enumerate(specs):
            ds = T.make_dataset(source, training=True, batch_size=batch_size,
                                image_size=image_size, channels=defaults["channels"],
                                preprocessing=defaults["preprocessing"], seed=seed,
                                num_classes=num_classes, **kwargs)
            row = {"recipe": spec, "model": model_name, "input": image_size,
                   "batch": batch_size, **pipeline_throughput(ds, batches=batches,
                                                              warmup=warmup), **model}
            row["ratio"] = row["pipeline_img_s"] / row["model_train_img_s"]
            rows.append(row)
            if callback:
                callback(i, row)
    return rows


def pipeline_table(data_dir=None, *, model_name: str = "resnet50",
                   recipes: Sequence[str] = DEFAULT_RECIPES, image_size: int | None = None,
                   batch_size: int = 32, batches: int = 10, warmup: int = 2, model_steps: int = 3,
                   num_images: int = 300) -> Table:
    """`benchmark_pipeline`'s rows (model warm-up = `warmup`) with a progress bar, as a table
    whose header says how they were measured; default output
    docs/results/pipeline_<model>_<size>.csv."""
    progress = keras.utils.Progbar(len(recipes), unit_name="recipe")
    rows = benchmark_pipeline(
        data_dir, model_name=model_name, recipes=recipes, image_size=image_size,
        batch_size=batch_size, batches=batches, warmup=warmup, model_steps=model_steps,
        model_warmup=warmup, num_images=num_images,
        callback=lambda i, row: progress.update(i + 1, [("img_s", row["pipeline_img_s"])]))
    source = data_dir or f"{num_images} random JPEGs of 300-500 px"
    header = (f"Input pipeline: TensorFlow {tf.__version__}, Keras {keras.__version__}, "
              f"{platform.machine()} with {os.cpu_count()} CPUs; {source}. pipeline_img_s = "
              f"read + decode + recipe + normalise + batch {batch_size} (tf.data, "
              f"AUTOTUNE), {batches} batches after {warmup}; "
              f"model_train_img_s = {model_name}'s training step on random data (median of "
              f"{model_steps}); ratio = pipeline / model (target >= 10).")
    columns = ["recipe", "model", "input", "batch", "pipeline_img_s", "model_precision",
               "model_train_img_s", "ratio", "images", "seconds"]
    return Table(rows, columns, header,
                 output=f"docs/results/pipeline_{model_name}_{rows[0]['input']}.csv")
