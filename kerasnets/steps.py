"""The training step as `kerasnets.training.fit` runs it, in three public pieces that the
benchmark's default-path comparison (`kerasnets.experiments.default_paths`) reuses: `distribute` a dataset,
`symbolic_build` the model's and optimiser's variables under the strategy, and wrap a step in
`step_function` (the model's `train_step` / `test_step` inside `strategy.run`).
"""

from __future__ import annotations

import keras
import tensorflow as tf


def _on_the_host(strategy) -> bool:
    """One replica on this process's CPU, where distributing a dataset only wraps it in a
    `MultiDeviceIterator` to copy each batch to the device it is already on (a GeneratorDataset
    that TensorFlow warns "will not be optimized" about); batches are then fed as they are."""
    return isinstance(strategy, tf.distribute.OneDeviceStrategy) and \
        "CPU" in strategy.extended.worker_devices[0].upper()


def distribute(strategy, data):
    """A distributed dataset plus the element spec of one global batch."""
    if callable(data) and not isinstance(data, tf.data.Dataset):
        if _on_the_host(strategy):
            data = data(tf.distribute.InputContext())
        else:
            spec = data(tf.distribute.InputContext()).element_spec
            return strategy.distribute_datasets_from_function(data), spec, None
    if not isinstance(data, tf.data.Dataset):
        raise TypeError("training data must be a batched tf.data.Dataset or a function "
                        f"InputContext -> tf.data.Dataset, got {type(data).__name__}.")
    if data.element_spec is None or not isinstance(data.element_spec, (tuple, list, dict)):
        raise ValueError("training data must yield (images, labels) batches; got elements of "
                         f"spec {data.element_spec}.")
    cardinality = int(data.cardinality())
    steps = cardinality if cardinality > 0 else None
    if _on_the_host(strategy):
        return data, data.element_spec, steps
    return strategy.experimental_distribute_dataset(data), data.element_spec, steps


def symbolic_build(model, spec, strategy) -> None:
    """Create optimizer, loss and metric variables under the strategy before tracing steps."""
    batch = tf.nest.map_structure(lambda s: keras.KerasTensor(
        s.shape, keras.backend.standardize_dtype(s.dtype)), spec)
    with strategy.scope():
        model._symbolic_build(data_batch=batch)
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)


def step_function(model, strategy, step, jit_compile: bool):
    """`step` (a model's `train_step` / `test_step`) run on every replica by `strategy.run`, as a
    `tf.function` of one distributed batch; `jit_compile` XLA-compiles the step itself."""
    inner = tf.function(step, jit_compile=True) if jit_compile else step

    @tf.function(reduce_retracing=True)
    def run(batch):
        outputs = strategy.run(inner, args=(batch,))
        # Step logs are for the progress bar only (epoch logs read the synchronised metrics):
        # the first local replica's values. Keras' own "auto" reduction concatenates scalars
        # under MultiWorkerMirroredStrategy and fails.
        return tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0],
                                     outputs)

    return run
