"""Train and evaluation datasets for one model in one call: source -> recipe -> batches.

`prepare("digits", kerasnets.get_entry("resnet20_cifar"), batch_size=64)` loads both splits
(`pipelines.sources`), applies the train and eval recipes at the model's input size, channels and
normalisation (`pipelines.transforms`), and says which loss and metrics fit the labels (one-hot
when MixUp, CutMix or label smoothing is on). The tools build their data through it.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class Data:
    info: Any                 # pipelines.sources.DatasetInfo
    train: Any                # batched tf.data.Dataset
    eval: Any                 # batched tf.data.Dataset
    image_size: int
    channels: int
    steps_per_epoch: int | None
    one_hot: bool
    label_smoothing: float = 0.0
    train_once: Any = None    # every training image once: eval geometry, last batch kept

    @property
    def loss(self):
        import keras

        if self.one_hot:
            return keras.losses.CategoricalCrossentropy(label_smoothing=self.label_smoothing)
        return keras.losses.SparseCategoricalCrossentropy()

    @property
    def metrics(self) -> list:
        import keras

        metrics = ["accuracy"]
        if self.info.num_classes > 5:
            metrics.append(keras.metrics.TopKCategoricalAccuracy(5, name="top5") if self.one_hot
                           else keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5"))
        return metrics


def prepare(dataset: str, entry, *, train_split: str = "train", eval_split: str = "test",
            data_dir=None, classes=None, image_size: int | None = None, batch_size: int = 64,
            recipe: str = "none", seed: int = 0, cache: bool = True, mixup: float = 0.0,
            cutmix: float = 0.0, randaugment: bool = False, label_smoothing: float = 0.0,
            eval_batch_size: int | None = None, on_error: str = "raise") -> Data:
    """Both splits of `dataset`, batched for the registry `entry` (input size, channels and
    normalisation from the entry unless `image_size` is given). `on_error` ("raise" / "skip")
    is what an image folder does with bad files (`pipelines.sources`)."""
    import tensorflow as tf

    from pipelines import sources, transforms

    train_raw, info = sources.load(dataset, train_split, data_dir=data_dir, classes=classes,
                                   seed=seed, on_error=on_error)
    eval_raw, _ = sources.load(dataset, eval_split, data_dir=data_dir, classes=classes,
                               seed=seed, on_error=on_error)
    size = image_size or entry.input_shape[0]
    channels = entry.input_shape[2]
    mixing = mixup > 0 or cutmix > 0
    one_hot = mixing or label_smoothing > 0
    common = dict(image_size=size, recipe=recipe, preprocessing=entry.preprocessing,
                  channels=channels, seed=seed, cache=cache, num_classes=info.num_classes)
    train = transforms.make_dataset(train_raw, training=True, batch_size=batch_size,
                                    mixup=mixup, cutmix=cutmix, randaugment=randaugment, **common)
    evaluation = transforms.make_dataset(eval_raw, training=False,
                                         batch_size=eval_batch_size or batch_size, **common)
    # Features for probes, few-shot rows and cached frozen features: `train` drops the last
    # partial batch (a different one each epoch), so one pass of it misses images for good.
    train_once = transforms.make_dataset(train_raw, training=False, batch_size=batch_size,
                                         drop_remainder=False, **common)

    def to_one_hot(ds, done):
        if not one_hot or done:
            return ds
        return ds.map(lambda x, y: (x, tf.one_hot(tf.cast(y, tf.int32), info.num_classes)),
                      num_parallel_calls=tf.data.AUTOTUNE)

    train, evaluation = to_one_hot(train, mixing), to_one_hot(evaluation, False)
    n = int(train.cardinality())
    return Data(info=info, train=train, eval=evaluation, image_size=size, channels=channels,
                steps_per_epoch=n if n > 0 else None, one_hot=one_hot,
                label_smoothing=label_smoothing, train_once=to_one_hot(train_once, False))
