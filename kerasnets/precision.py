"""Precision and XLA chosen for the machine and the model: `precision="auto"`, `jit_compile="auto"`.

`choose` returns a `Choice` (a Keras dtype policy, whether to XLA-compile the training step, and
why); `apply` sets the policy globally (before the model is built) and makes the choice the one
`kerasnets.training.fit(jit_compile="auto")` follows. The tools do both through
`pipelines.strategy.configure_precision` and print the reason.

How `auto` decides:

- GPU: `mixed_float16` (tensor cores) and XLA. TPU: `mixed_bfloat16` (XLA compiles every TPU
  step anyway; `jit_compile` stays off).
- CPU without native bfloat16: `float32`, without measuring. TensorFlow emulates bf16 there; on
  an AVX2-only machine of this project's kind it was 8-10x slower than float32.
- CPU with native bfloat16 (x86 AVX512_BF16 or AMX-BF16, Arm BF16; read from /proc/cpuinfo):
  whether bf16 pays depends on the model and on how bf16 is reached. Two ways:
  `mixed_bfloat16` (Keras' dtype policy: layers compute in bf16, BatchNorm statistics and
  variables stay float32, with casts between) and `onednn_bfloat16` (Keras stays float32 and
  TensorFlow's graph rewrite `auto_mixed_precision_onednn_bfloat16` turns the convolutions and
  matmuls of every compiled function into bf16 oneDNN kernels, keeping fused float32
  BatchNorm). Measured on a 2-core AMX machine (2026-12-05, ResNet-50, 224 px, batch 16,
  training img/s): float32 6.8-7.0, mixed_bfloat16 8.2, onednn_bfloat16 9.2-9.3; MobileNetV2
  loses with mixed_bfloat16 (0.89x: depthwise layers are memory-bound and bf16 adds casts). So
  a short probe times a few training steps of the actual model at the actual input shape and
  batch, each candidate interleaved (`kerasnets.measurement.benchmark.interleaved_times`, median), and a
  bf16 candidate is chosen only when it is at least `GAIN` faster than float32, so `auto` never makes a model slower than its
  float32 self by more than the probe's noise. The figures are cached in
  `$KERAS_HOME/kerasnets/precision_probe.json` (default ~/.keras), keyed by the machine (CPU
  model string, a hash of its flags, the TensorFlow version) and by model, input shape, batch
  and classes, so the probe runs once per machine and model.
- XLA on CPU: off, a rule backed by measurements on this machine: the XLA training step ran at
  0.64x (ResNet-50, 224 px, and 48 s to compile it), 0.59x (ResNeXt-50), 0.13x (MobileNetV2) and
  0.34x (resnet20_cifar at 32 px, batch 64) of the same step without XLA. `probe_jit=True` adds
  XLA candidates to the probe instead (each costs its compilation once).
- Under `MultiWorkerMirroredStrategy` every worker must build the same model, and probes on
  several hosts could disagree, so `auto` never probes there: float32 on CPU unless a cached
  figure exists.

Explicit values (`"float32"`, `"mixed_bfloat16"`, `"onednn_bfloat16"`, `"mixed_float16"`;
`jit_compile` True/False) are taken as they are. `keras_policy(precision)` is the Keras dtype
policy a precision builds models under; `under(precision, fn)` runs a compiled function with the
graph rewrite on or off as the precision needs (the rewrite is a process-wide TensorFlow option
read at each call, so candidates of one process can be compared).
"""

from __future__ import annotations

import dataclasses
import datetime
import gc
import hashlib
import json
import os
import platform
from typing import Any, Callable, Mapping, Sequence

import kerasnets
from kerasnets.utils import atomic_write_text

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "onednn_bfloat16", "mixed_float16")
# TensorFlow's grappler rewrite behind "onednn_bfloat16" (Keras policy float32).
ONEDNN_REWRITE = "auto_mixed_precision_onednn_bfloat16"
JIT_CHOICES = ("auto", "true", "false")
# CPU flags of native bfloat16 arithmetic: x86 AVX512_BF16 and AMX-BF16 (/proc/cpuinfo "flags"),
# Arm's BF16 extension (/proc/cpuinfo "Features").
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")
# Flags printed by the benchmark next to the peaks: what float32 / bf16 / int8 kernels can use.
RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16",
                  "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "asimd", "bf16", "i8mm",
                  "sve")
GAIN = 1.1             # a candidate replaces the baseline only when this much faster in the probe
CACHE_FILE = "precision_probe.json"




def keras_policy(precision: str) -> str:
    """The Keras dtype policy a model is built under for `precision`."""
    return "float32" if precision == "onednn_bfloat16" else precision


def set_rewrite(enabled: bool) -> bool:
    """Turn TensorFlow's oneDNN bf16 graph rewrite on or off; returns its previous state."""
    import tensorflow as tf

    before = bool(tf.config.optimizer.get_experimental_options().get(ONEDNN_REWRITE, False))
    if before != enabled:
        tf.config.optimizer.set_experimental_options({ONEDNN_REWRITE: enabled})
    return before


def under(precision: str, fn: Callable[[], Any]) -> Callable[[], Any]:
    """`fn` (a compiled step) called with the graph rewrite as `precision` needs it, restored
    afterwards: how a probe or a benchmark compares precisions in one process."""
    wanted = precision == "onednn_bfloat16"

    def call():
        before = set_rewrite(wanted)
        try:
            return fn()
        finally:
            set_rewrite(before)

    return call


# ---------------------------------------------------------------------------------------------
# The machine.

@dataclasses.dataclass(frozen=True)
class CpuInfo:
    model: str
    flags: frozenset

    @property
    def native_bf16_flags(self) -> tuple[str, ...]:
        return tuple(f for f in NATIVE_BF16_FLAGS if f in self.flags)

    @property
    def native_bf16(self) -> bool:
        return bool(self.native_bf16_flags)

    @property
    def relevant_flags(self) -> tuple[str, ...]:
        return tuple(f for f in RELEVANT_FLAGS if f in self.flags)

    @property
    def key(self) -> str:
        """The machine in the probe cache: model string and a hash of every flag."""
        digest = hashlib.sha256(" ".join(sorted(self.flags)).encode()).hexdigest()[:12]
        return f"{self.model} (flags {digest})"


def cpu_info(path: str = "/proc/cpuinfo") -> CpuInfo:
    """The CPU's model string and feature flags (Linux /proc/cpuinfo; elsewhere the platform's
    processor string and no flags, which `auto` treats as no native bf16)."""
    model, flags = "", set()
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "cpu model", "hardware") and not model:
                    model = value.strip()
                elif key in ("flags", "features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return CpuInfo(model or platform.processor() or platform.machine() or "unknown CPU",
                   frozenset(flags))


def device_kind(strategy=None) -> str:
    """"tpu", "gpu" or "cpu": where the model will run."""
    import tensorflow as tf

    if strategy is not None and isinstance(strategy, (tf.distribute.TPUStrategy,)):
        return "tpu"
    if strategy is not None:
        try:
            devices = tuple(strategy.extended.worker_devices)
        except (RuntimeError, AttributeError):  # the default strategy has none
            devices = ()
        if any("GPU" in d.upper() for d in devices):
            return "gpu"
        if devices:
            return "cpu"
    return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"


def _multi_worker(strategy) -> bool:
    import tensorflow as tf

    return strategy is not None and isinstance(
        strategy, tf.distribute.MultiWorkerMirroredStrategy) and \
        strategy.extended._in_multi_worker_mode()


# ---------------------------------------------------------------------------------------------
# The choice.

@dataclasses.dataclass(frozen=True)
class Choice:
    precision: str                      # a Keras dtype policy name
    jit_compile: bool
    reason: str
    device: str = "cpu"
    measured: Mapping[str, float] | None = None   # probe: training images/s per candidate
    cached: bool = False                # the figures came from the probe cache

    def __str__(self) -> str:
        return (f"precision {self.precision}, jit_compile {str(self.jit_compile).lower()}: "
                f"{self.reason}")


def parse_jit(value) -> str | bool:
    """"auto", True or False from a bool or one of `JIT_CHOICES` (flags pass strings)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", "none"):
        return False
    raise ValueError(f"Unknown jit_compile {value!r}; choose one of {', '.join(JIT_CHOICES)}.")


def _check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}; choose one of "
                         f"{', '.join(PRECISIONS)}.")
    return precision


def label(precision: str, jit_compile: bool) -> str:
    """A probe candidate's name: the policy, "+xla" when XLA-compiled."""
    return precision + ("+xla" if jit_compile else "")


def _unlabel(name: str) -> tuple[str, bool]:
    return name.removesuffix("+xla"), name.endswith("+xla")


# ---------------------------------------------------------------------------------------------
# The probe and its cache.

def cache_path() -> str:
    try:  # where Keras keeps its files: $KERAS_HOME, else ~/.keras
        from keras.src.backend.config import keras_home

        home = keras_home()
    except ImportError:  # pragma: no cover - a Keras without the private accessor
        home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return os.path.join(home, "kerasnets", CACHE_FILE)


def _machine_key(cpu: CpuInfo) -> str:
    import tensorflow as tf

    return f"{cpu.key} tensorflow {tf.__version__}"


def _entry_key(model_key: str, input_shape, batch_size: int, classes, candidates) -> str:
    shape = "x".join(str(int(d)) for d in input_shape)
    return (f"{model_key} {shape} batch {int(batch_size)} classes {classes} "
            f"[{', '.join(candidates)}]")


def load_cache(path: str) -> dict:
    """The probe cache (an empty one when missing or unreadable: a cache never fails a run)."""
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _store(path: str, machine: str, key: str, figures: Mapping[str, float]) -> None:
    data = load_cache(path)
    data.setdefault(machine, {})[key] = {
        "img_s": {k: float(v) for k, v in figures.items()},
        "measured": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    try:
        atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    except OSError:  # a read-only home: the choice stands, it is just not remembered
        pass


def probe(model: str | Callable[[], Any], candidates: Sequence[str], *, input_shape=None,
          batch_size: int = 16, classes: int | None = None, steps: int = 4, warmup: int = 1,
          max_seconds: float | None = 60.0, seed: int = 0) -> dict[str, float]:
    """Training images/s of `model` (a registry name, built at `input_shape` with `classes`, or a
    zero-argument builder) under each candidate (`label(precision, jit)`), one SGD step on a
    random batch, candidates interleaved; median of up to `steps` rounds after `warmup` (at most
    `max_seconds` of timed rounds). The global dtype policy is restored afterwards."""
    import keras

    from kerasnets.measurement import benchmark

    if isinstance(model, str):
        entry = kerasnets.get_entry(model)
        shape = tuple(input_shape or entry.input_shape)
        kwargs = {"input_shape": shape} if classes is None else {"input_shape": shape,
                                                                   "classes": classes}
        build = lambda: kerasnets.create_model(entry.name, **kwargs)  # noqa: E731
    else:
        build = model
    previous = keras.mixed_precision.global_policy()
    steps_of = {}
    try:
        for name in candidates:
            precision, jit = _unlabel(name)
            keras.mixed_precision.set_dtype_policy(keras_policy(precision))
            net = build()
            x, y = benchmark.random_batch(net.input_shape[1:], batch_size, net.output_shape[-1],
                                          seed)
            steps_of[name] = under(precision, benchmark.train_step(net, x, y, jit_compile=jit))
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    try:
        times = benchmark.medians(benchmark.interleaved_times(
            steps_of, steps=steps, warmup=warmup, max_seconds=max_seconds))
    finally:
        steps_of.clear()
        gc.collect()
    return {name: batch_size / t for name, t in times.items()}


# ---------------------------------------------------------------------------------------------
# Deciding.

def _decide(figures: Mapping[str, float], baseline: str, gain: float) -> tuple[str, str]:
    """The candidate to use and why: the fastest, if at least `gain` x the baseline."""
    best = max(figures, key=figures.get)
    ratios = ", ".join(f"{k} {v / figures[baseline]:.2f}x {baseline}" for k, v in figures.items()
                       if k != baseline)
    rates = ", ".join(f"{k} {v:.3g}" for k, v in figures.items())
    if best != baseline and figures[best] >= gain * figures[baseline]:
        return best, f"{ratios} (>= {gain:.2f} needed; img/s {rates}) -> {best}"
    return baseline, f"{ratios} (< {gain:.2f} needed; img/s {rates}) -> {baseline}"


def choose(precision: str = "auto", jit_compile: str | bool = "auto", *,
           model: str | Callable[[], Any] | None = None, input_shape=None,
           batch_size: int | None = None, classes: int | None = None, strategy=None,
           device: str | None = None, cpu: CpuInfo | None = None,
           probe_fn: Callable[..., Mapping[str, float]] | None = None,
           cache: str | bool = True, cache_key: str | None = None, probe_jit: bool = False,
           gain: float = GAIN, steps: int = 4, warmup: int = 1, max_seconds: float = 60.0,
           log: Callable[[str], None] | None = None) -> Choice:
    """The precision and XLA setting for training `model` on this machine (see the module doc).

    `model` is a registry name (or a zero-argument builder, cached only under `cache_key`);
    `input_shape` (default: the registry's), `batch_size` and `classes` are those of the run.
    Without a model, `auto` on a bf16 CPU keeps float32 (nothing to probe). `cache` is True
    (`cache_path()`), a path, or False. `cpu`, `device` and `probe_fn` (called like `probe`)
    replace the machine's for tests. `log` receives one line saying what was chosen and why.
    """
    _check_precision(precision)
    jit = parse_jit(jit_compile)
    device = device or device_kind(strategy)
    choice = _choose(precision, jit, model=model, input_shape=input_shape,
                     batch_size=batch_size, classes=classes, strategy=strategy, device=device,
                     cpu=cpu, probe_fn=probe_fn or probe, cache=cache, cache_key=cache_key,
                     probe_jit=probe_jit, gain=gain, steps=steps, warmup=warmup,
                     max_seconds=max_seconds)
    if log:
        log(f"precision {precision} -> {choice.precision}, jit_compile "
            f"{str(jit).lower()} -> {str(choice.jit_compile).lower()}: {choice.reason}")
    return choice


def _choose(precision, jit, *, model, input_shape, batch_size, classes, strategy, device, cpu,
            probe_fn, cache, cache_key, probe_jit, gain, steps, warmup, max_seconds) -> Choice:
    if precision != "auto" and jit != "auto":
        return Choice(precision, jit, "as requested", device)
    if device in ("gpu", "tpu"):
        p = precision if precision != "auto" else ("mixed_float16" if device == "gpu"
                                                   else "mixed_bfloat16")
        # A TPU compiles every step with XLA whatever jit_compile says.
        j = jit if jit != "auto" else device == "gpu"
        return Choice(p, j, "GPU: float16 tensor cores and XLA" if device == "gpu" else
                      "TPU: bfloat16 matrix units (XLA compiles every TPU step anyway)", device)

    cpu = cpu or cpu_info()
    precisions = [precision] if precision != "auto" else (
        ["float32", "mixed_bfloat16", "onednn_bfloat16"] if cpu.native_bf16 else ["float32"])
    jits = [jit] if jit != "auto" else ([False, True] if probe_jit else [False])
    notes = []
    if precision == "auto":
        notes.append(f"CPU {cpu.model!r} has native bf16 ({', '.join(cpu.native_bf16_flags)})"
                     if cpu.native_bf16 else
                     f"CPU {cpu.model!r} has no native bf16 (no AVX512_BF16 / AMX-BF16 / BF16 "
                     f"flag; emulated bf16 is several times slower)")
    if jit == "auto" and not probe_jit:
        notes.append("XLA off on CPU (measured 0.13-0.64x without it, see kerasnets.measurement.precision)")
    candidates = [label(p, j) for p in precisions for j in jits]
    baseline = candidates[0]
    if len(candidates) == 1:
        p, j = _unlabel(baseline)
        return Choice(p, j, "; ".join(notes), device)

    key = cache_key or (model if isinstance(model, str) else None)
    if model is None or batch_size is None:
        p, j = _unlabel(baseline)
        return Choice(p, j, "; ".join(notes + [f"no model and batch to probe: {baseline}"]),
                      device)
    if isinstance(model, str):
        try:
            entry = kerasnets.get_entry(model)
        except ValueError:
            p, j = _unlabel(baseline)
            return Choice(p, j, "; ".join(notes + [f"{model!r} is not a registry model, "
                                                   f"nothing to probe: {baseline}"]), device)
        input_shape = tuple(input_shape or entry.input_shape)
    cache_file = (cache_path() if cache is True else cache) if cache else None
    machine = _machine_key(cpu)
    entry_key = (_entry_key(key, input_shape or ("?",), batch_size, classes, candidates)
                 if key else None)
    figures, cached = None, False
    if cache_file and entry_key:
        hit = load_cache(cache_file).get(machine, {}).get(entry_key)
        if hit and set(hit.get("img_s", {})) == set(candidates):
            figures, cached = hit["img_s"], True
    if figures is None:
        if _multi_worker(strategy):
            p, j = _unlabel(baseline)
            return Choice(p, j, "; ".join(notes + ["multi-worker: no probe (workers must "
                                                   f"agree) and none cached: {baseline}"]),
                          device)
        figures = probe_fn(model, candidates, input_shape=input_shape, batch_size=batch_size,
                           classes=classes, steps=steps, warmup=warmup, max_seconds=max_seconds)
        if cache_file and entry_key:
            _store(cache_file, machine, entry_key, figures)
    figures = {c: float(figures[c]) for c in candidates}
    chosen, why = _decide(figures, baseline, gain)
    what = key or "the model"
    shape = "x".join(str(d) for d in input_shape) if input_shape else "?"
    source = f"cached probe ({cache_file})" if cached else "probe"
    p, j = _unlabel(chosen)
    return Choice(p, j, "; ".join(notes + [f"{source} of {what} at {shape}, batch {batch_size}: "
                                           f"{why}"]), device, figures, cached)


# ---------------------------------------------------------------------------------------------
# Applying.

_APPLIED: list[Choice] = []


def apply(choice: Choice) -> Choice:
    """Set Keras' global dtype policy for the choice (before building the model), turn the
    oneDNN bf16 graph rewrite on for `onednn_bfloat16` (off otherwise), and make its
    jit_compile the one `kerasnets.training.fit(jit_compile="auto")` uses."""
    import keras

    keras.mixed_precision.set_dtype_policy(keras_policy(choice.precision))
    set_rewrite(choice.precision == "onednn_bfloat16")
    _APPLIED[:] = [choice]
    return choice


def applied() -> Choice | None:
    """The last choice `apply` set (None before any)."""
    return _APPLIED[0] if _APPLIED else None


def reset() -> None:
    """Forget the applied choice and go back to Keras' float32 policy."""
    import keras

    _APPLIED.clear()
    keras.mixed_precision.set_dtype_policy("float32")
    set_rewrite(False)


def resolve_jit(jit_compile: str | bool = "auto", strategy=None) -> bool:
    """`fit`'s jit_compile: explicit values as given; "auto" -> the applied choice's, else XLA
    on GPU and off on CPU and TPU (the rule `choose` uses)."""
    jit = parse_jit(jit_compile)
    if jit != "auto":
        return jit
    if _APPLIED:
        return _APPLIED[0].jit_compile
    return device_kind(strategy) == "gpu"
