"""The one training loop for every `tf.distribute` strategy: `fit` drives `model.train_step`
inside `strategy.run` over a dataset it distributes itself, with Keras' callbacks, metrics and
progress bar; `evaluate` does the same with `model.test_step` (see `kerasnets.training`)."""

from __future__ import annotations

import keras
import tensorflow as tf


def _on_the_host(strategy) -> bool:
    """One replica on this process's CPU, where distributing a dataset only wraps it in a
    `MultiDeviceIterator` to copy each batch to the device it is already on (a GeneratorDataset
    that TensorFlow warns "will not be optimized" about); batches are then fed as they are."""
    return isinstance(strategy, tf.distribute.OneDeviceStrategy) and \
        "CPU" in strategy.extended.worker_devices[0].upper()


def _distribute(strategy, data):
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


def _symbolic_build(model, spec, strategy) -> None:
    """Create optimizer, loss and metric variables under the strategy before tracing steps."""
    batch = tf.nest.map_structure(lambda s: keras.KerasTensor(
        s.shape, keras.backend.standardize_dtype(s.dtype)), spec)
    with strategy.scope():
        model._symbolic_build(data_batch=batch)
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)


def _step_function(model, strategy, step, jit_compile: bool):
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


def _check_strategy(model, strategy):
    if strategy is None:
        strategy = model.distribute_strategy
    if isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy):
        raise NotImplementedError(
            "kerasnets.training.fit does not drive ParameterServerStrategy (it needs a "
            "ClusterCoordinator schedule); use mirrored or multi_worker.")
    if model.optimizer is None and not getattr(model, "compiled", False):
        raise ValueError("Compile the model (under strategy.scope()) before training it.")
    return strategy


def fit(model, train_data, *, epochs: int, validation_data=None, strategy=None,
        callbacks=None, initial_epoch: int = 0, steps_per_epoch: int | None = None,
        validation_steps: int | None = None, verbose: int = 1, jit_compile="auto"):
    """Train `model` (compiled under `strategy.scope()`) like `Model.fit`, under any strategy.

    `train_data` is a batched `tf.data.Dataset` of `(x, y)` with the *global* batch size, or a
    function `tf.distribute.InputContext -> Dataset` (per-replica batches, sharded by the
    function: `distribute_datasets_from_function`). `steps_per_epoch` caps an epoch (required
    when the dataset's cardinality is unknown and every worker must agree on it).
    `jit_compile` (True, False or "auto") XLA-compiles the step; "auto" follows the choice
    `kerasnets.precision.apply` made (XLA on GPU, off on CPU without one).
    Returns the `keras.callbacks.History`.
    """
    from kerasnets.precision import resolve_jit

    strategy = _check_strategy(model, strategy)
    jit_compile = resolve_jit(jit_compile, strategy)
    train_dist, spec, steps = _distribute(strategy, train_data)
    steps = steps_per_epoch or steps
    _symbolic_build(model, spec, strategy)
    train_fn = _step_function(model, strategy, model.train_step, jit_compile)
    if not isinstance(callbacks, keras.callbacks.CallbackList):
        callbacks = keras.callbacks.CallbackList(
            callbacks, add_history=True, add_progbar=verbose != 0, verbose=verbose,
            epochs=epochs, steps=steps, model=model)
    model.stop_training = False
    model._initial_epoch = None
    callbacks.on_train_begin()
    initial_epoch = model._initial_epoch or initial_epoch  # set by BackupAndRestore
    logs, epoch_logs = {}, None
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        for step, batch in enumerate(train_dist):
            if steps_per_epoch is not None and step >= steps_per_epoch:
                break
            callbacks.on_train_batch_begin(step)
            logs = train_fn(batch)
            callbacks.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        epoch_logs = dict(model._get_metrics_result_or_logs(logs))
        if validation_data is not None:
            val_logs = evaluate(model, validation_data, strategy=strategy,
                                steps=validation_steps, verbose=0, callbacks=callbacks)
            epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
        callbacks.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    if isinstance(model.optimizer, keras.optimizers.Optimizer) and epochs > 0:
        model.optimizer.finalize_variable_values(model.trainable_weights)
    callbacks.on_train_end(logs=epoch_logs)
    return model.history


def evaluate(model, data, *, strategy=None, steps: int | None = None, verbose: int = 1,
             callbacks=None) -> dict[str, float]:
    """Loss and compiled metrics of `model` on `data` (like `Model.evaluate(return_dict=True)`),
    under any strategy."""
    strategy = _check_strategy(model, strategy)
    dist, spec, n = _distribute(strategy, data)
    _symbolic_build(model, spec, strategy)
    test_fn = getattr(model, "_kerasnets_test_fn", None)
    if test_fn is None or test_fn[0] is not strategy:
        test_fn = (strategy, _step_function(model, strategy, model.test_step, False))
        model._kerasnets_test_fn = test_fn
    progbar = keras.utils.Progbar(steps or n, verbose=verbose, unit_name="step")
    own_callbacks = callbacks is None
    if own_callbacks:
        callbacks = keras.callbacks.CallbackList([], model=model)
    model.reset_metrics()
    callbacks.on_test_begin()
    logs = {}
    for step, batch in enumerate(dist):
        if steps is not None and step >= steps:
            break
        callbacks.on_test_batch_begin(step)
        logs = test_fn[1](batch)
        callbacks.on_test_batch_end(step, logs)
        progbar.update(step + 1, [(k, float(v)) for k, v in logs.items()])
    from keras.src.utils.python_utils import pythonify_logs

    logs = pythonify_logs(model._get_metrics_result_or_logs(logs))
    callbacks.on_test_end(logs)
    return logs


def set_bn_momentum(model, momentum: float) -> int:
    """Set the moving-statistics momentum of every BatchNormalization layer (nested models
    included); returns how many were changed. Keras' default 0.99 needs several hundred steps to
    forget the initial statistics (mean 0, variance 1), so short runs evaluate badly with it;
    0.9 is PyTorch's default (its `momentum=0.1`)."""
    count = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(momentum)
            count += 1
    return count
