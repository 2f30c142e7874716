"""The one training loop for every `tf.distribute` strategy: `fit` drives `model.train_step`
inside `strategy.run` over a dataset it distributes itself, with Keras' callbacks, metrics and
progress bar; `evaluate` does the same with `model.test_step` (see `kerasnets.training`)."""

from __future__ import annotations

import keras
import tensorflow as tf

from kerasnets.training.steps import distribute, step_function, symbolic_build


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
    `kerasnets.measurement.precision.apply` made (XLA on GPU, off on CPU without one).
    Returns the `keras.callbacks.History`.
    """
    from kerasnets.measurement.precision import resolve_jit

    strategy = _check_strategy(model, strategy)
    jit_compile = resolve_jit(jit_compile, strategy)
    train_dist, spec, steps = distribute(strategy, train_data)
    steps = steps_per_epoch or steps
    symbolic_build(model, spec, strategy)
    train_fn = step_function(model, strategy, model.train_step, jit_compile)
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
    dist, spec, n = distribute(strategy, data)
    symbolic_build(model, spec, strategy)
    test_fn = getattr(model, "_kerasnets_test_fn", None)
    if test_fn is None or test_fn[0] is not strategy:
        test_fn = (strategy, step_function(model, strategy, model.test_step, False))
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
