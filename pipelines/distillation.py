"""The datasets of one seed of the distillation experiment (`kerasnets.experiments.distillation.experiment`),
from a dataset name: the evaluation split, the non-augmented transfer set in a fixed order (the
teacher's cached logits are aligned to it), the teachers' training set (data recipe, MixUp /
CutMix / RandAugment) and, with a `transfer_recipe`, the student's augmented transfer batches.
All at the student's input size, channels and normalisation."""

from __future__ import annotations

from typing import Sequence

from kerasnets.zoo.registry import get_entry


def prepare(dataset: str, student: str, *, seed: int = 0, train_split: str = "train",
            eval_split: str = "test", data_dir=None, classes: Sequence[int] | None = None,
            on_error: str = "raise", image_size: int | None = None, batch_size: int = 64,
            recipe: str | None = None, transfer_recipe: str = "none", mixup: float = 0.0,
            cutmix: float = 0.0, randaugment: bool = False):
    """`ExperimentData` of `dataset` for the registry `student` (input shape:
    `experiment.student_input_shape`)."""
    import tensorflow as tf

    from kerasnets.experiments.distillation.experiment import ExperimentData, student_input_shape
    from pipelines import sources
    from pipelines import transforms as T

    load = dict(data_dir=data_dir, classes=classes, seed=seed, on_error=on_error)
    train_raw, info = sources.load(dataset, train_split, shuffle_files=False, **load)
    eval_raw, _ = sources.load(dataset, eval_split, **load)
    shape = student_input_shape(student, image_size=image_size, native_shape=info.image_shape)
    preprocessing = get_entry(student).preprocessing
    common = dict(image_size=shape[0], preprocessing=preprocessing, channels=shape[2])
    recipe = recipe or "none"
    evaluation = T.make_dataset(eval_raw, training=False, batch_size=batch_size, recipe=recipe,
                                cache=True, **common)
    # The non-augmented transfer set, in a fixed order: the teacher's cache is aligned to it.
    examples = T.make_dataset(train_raw, training=False, batch_size=256, recipe=recipe,
                              cache=True, **common).unbatch()
    shuffled, _ = sources.load(dataset, train_split, **load)
    teacher_train = T.make_dataset(shuffled, training=True, batch_size=batch_size, recipe=recipe,
                                   seed=seed, cache=True, mixup=mixup, cutmix=cutmix,
                                   randaugment=randaugment, num_classes=info.num_classes,
                                   **common)

    def augmented_transfer(exclude: Sequence[int] = ()):
        raw = shuffled
        if exclude:
            bad = tf.constant(list(exclude), tf.int64)
            raw = raw.filter(lambda x, y: tf.reduce_all(tf.not_equal(y, bad)))
        return T.make_dataset(raw, training=True, batch_size=batch_size, recipe=transfer_recipe,
                              seed=seed, cache=True, **common)

    mixing = mixup > 0 or cutmix > 0
    return ExperimentData(
        name=info.name, class_names=info.class_names, num_classes=info.num_classes,
        num_train=info.num_examples or sum(1 for _ in examples), input_shape=shape,
        preprocessing=preprocessing, eval=evaluation, examples=examples,
        teacher_train=teacher_train, mixing=mixing,
        teacher_augmented=recipe != "none" or mixing or randaugment,
        augmented_transfer=augmented_transfer if transfer_recipe != "none" else None,
        source=(dataset, train_split), recipe=recipe)
