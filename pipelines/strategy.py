"""tf.distribute strategies and precision from names (`--strategy`, `--precision`, `--jit_compile`).

`make_strategy("auto")` picks what the machine offers: a TPU when one is named, all GPUs with
`MirroredStrategy` when there are several, `MultiWorkerMirroredStrategy` when `TF_CONFIG` names
more than one worker, else one device. Every strategy trains through the same loop,
`kerasnets.training.fit` (Keras' own `fit` fails under `MultiWorkerMirroredStrategy` in Keras
3.15, keras-team/keras#20585).

Precision and XLA are chosen by `kerasnets.measurement.precision` (`configure_precision` here applies the
choice for a strategy): `auto` is float16 + XLA on GPU, bfloat16 on TPU, and on CPU float32
unless the CPU computes bfloat16 natively (AVX512_BF16 / AMX) *and* a short cached probe of the
model says bf16 trains faster; XLA stays off on CPU (measured slower, 0.13-0.64x).
"""

from __future__ import annotations

import json
import os

from kerasnets.measurement import precision as P
from kerasnets.zoo import registry

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu", "parameter_server")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
JIT_CHOICES = ("auto", "true", "false")


def configure_logical_cpus(n: int) -> None:
    """Split the host CPU into `n` logical devices (to run `mirrored` without GPUs, e.g. in
    tests). Must run before TensorFlow initialises its devices."""
    import tensorflow as tf

    if n <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError as e:
        current = len(tf.config.list_logical_devices("CPU"))
        if current != n:
            raise RuntimeError(f"Cannot split the CPU into {n} logical devices: TensorFlow is "
                               f"already initialised with {current}. Call "
                               "configure_logical_cpus() before building any model.") from e


def _tf_config() -> dict:
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON ({e}): {raw[:200]!r}") from e


def is_chief() -> bool:
    """True on the worker that writes checkpoints, logs and results (always, outside a cluster)."""
    task = _tf_config().get("task", {})
    kind, index = task.get("type", "chief"), int(task.get("index", 0))
    cluster = _tf_config().get("cluster", {})
    if kind == "chief":
        return True
    return kind == "worker" and index == 0 and "chief" not in cluster


def make_strategy(name: str = "auto", *, tpu: str | None = None, num_gpus: int | None = None,
                  precision: str | None = None, jit_compile="auto", **model):
    """A `tf.distribute.Strategy` by name (one of `STRATEGIES`).

    `mirrored` uses the first `num_gpus` GPUs (all by default) or, with none, every logical CPU
    device (see `configure_logical_cpus`). `multi_worker` reads the cluster from `TF_CONFIG`;
    `tpu` connects to `tpu` (a name or grpc:// address; "" for a local TPU VM). With
    `precision` (and `jit_compile`, and the `model=`, `input_shape=`, `batch_size=`,
    `classes=` a probe needs), the choice is made and applied for the new strategy
    (`configure_precision`; `kerasnets.measurement.precision.applied()` returns it).
    """
    strategy = _make_strategy(name, tpu=tpu, num_gpus=num_gpus)
    if precision is not None:
        configure_precision(precision, jit_compile, strategy, **model)
    return strategy


def _make_strategy(name, *, tpu, num_gpus):
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}.")
    cluster = _tf_config().get("cluster", {})
    if name == "auto":
        if tpu is not None:
            name = "tpu"
        elif len(cluster.get("worker", [])) + len(cluster.get("chief", [])) > 1:
            name = "multi_worker"
    if name == "multi_worker":
        # Collective ops must be configured before anything initialises TensorFlow's devices.
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if num_gpus is not None:
        if num_gpus > len(gpus):
            raise ValueError(f"num_gpus={num_gpus} but this machine has {len(gpus)} GPU(s).")
        gpus = gpus[:num_gpus]
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "one_device"
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    # parameter_server
    if not cluster.get("ps"):
        raise ValueError("strategy='parameter_server' needs TF_CONFIG with a 'ps' job (and "
                         "'chief' and 'worker' jobs); none is set.")
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    return tf.distribute.ParameterServerStrategy(resolver)


def configure_precision(precision: str = "auto", jit_compile="auto", strategy=None, *,
                        model=None, input_shape=None, batch_size: int | None = None,
                        classes: int | None = None, log=print, **options):
    """Choose precision and XLA for training `model` (a registry name) at `input_shape` and
    `batch_size` under `strategy` (`kerasnets.measurement.precision.choose`, probing where `auto` needs it),
    apply it (Keras' global dtype policy; `fit(jit_compile="auto")` follows it) and return the
    `Choice`. Call before building the model."""
    choice = P.choose(precision, jit_compile, model=model, input_shape=input_shape,
                      batch_size=batch_size, classes=classes, strategy=strategy, log=log,
                      **options)
    return P.apply(choice)


def start(strategy: str = "auto", *, tpu: str | None = None, num_gpus: int | None = None,
          logical_cpus: int = 0, precision: str = "auto", jit_compile="auto",
          model: str | None = None, image_size: int | None = None,
          batch_size: int | None = None, classes: int | None = None):
    """A run's strategy and precision, before anything is built (the tools' strategy flags):
    `logical_cpus` CPU devices, `make_strategy`, then `configure_precision`, which may probe
    `model` (a registry name; None: nothing is probed) at `image_size` (its channels from the
    registry; an unknown name is not probed) and `batch_size`; the choice and its reason are
    printed. Returns (strategy, the precision policy's name)."""
    if logical_cpus:
        configure_logical_cpus(logical_cpus)
    made = make_strategy(strategy, tpu=tpu, num_gpus=num_gpus)
    shape = None
    if model and image_size:
        try:
            shape = (image_size, image_size, registry.get_entry(model).input_shape[2])
        except ValueError:
            shape = None
    choice = configure_precision(precision, jit_compile, made, model=model, input_shape=shape,
                                 batch_size=batch_size, classes=classes)
    return made, choice.precision


def resolve_precision(policy: str, strategy=None, **model) -> str:
    """The Keras dtype policy for `policy` (one of `PRECISIONS`) on this machine; `auto` as
    `kerasnets.measurement.precision.choose` decides it (without `model=`, float32 on CPU)."""
    if policy not in PRECISIONS:
        raise ValueError(f"Unknown precision {policy!r}; choose one of {', '.join(PRECISIONS)}.")
    if policy != "auto":
        return policy
    return P.choose(policy, "auto", strategy=strategy, **model).precision


def set_mixed_precision(policy: str = "auto", strategy=None, **model) -> str:
    """Set Keras' global dtype policy (before building the model); returns the policy set."""
    return configure_precision(policy, "auto", strategy, log=None, **model).precision
