"""The device checks of tests/device/run.sh: train (MirroredStrategy, --precision auto,
--jit_compile auto), loss falls, img/s against keras.applications, export + reload check.

    python tests/device/check.py OUT

Each step runs a tool in a subprocess (the tools are what users run) with its own time limit;
the results go to OUT/device.json and the exit status is 1 if a check failed. Without a GPU the
same steps run at smoke scale (resnet20_cifar on digits at 32 px) and device.json says
"gpu": false: a check of the script, not of a device.
"""

import csv
import json
import os
import subprocess
import sys
import time


def gpus() -> list[str]:
    import tensorflow as tf

    return [d.name for d in tf.config.list_physical_devices("GPU")]


def tool(module, *args, timeout):
    start = time.time()
    print(f"$ python -m {module} {' '.join(args)}", flush=True)
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    print(proc.stdout[-2000:], proc.stderr[-2000:] if proc.returncode else "", flush=True)
    return proc.returncode, round(time.time() - start, 1)


def main(out):
    os.makedirs(out, exist_ok=True)
    devices = gpus()
    gpu = bool(devices)
    print(f"GPUs: {devices or 'none: smoke run of the script only (no device figures)'}")
    if gpu:
        model, data, size, batch, epochs, steps = "resnet50", "photos", 224, 64, 3, 8
    else:
        model, data, size, batch, epochs, steps = "resnet20_cifar", "digits", 32, 32, 3, 4
    run_dir = os.path.join(out, "run")
    report = {"gpu": gpu, "devices": devices, "model": model, "image_size": size,
              "batch_size": batch, "checks": {}}
    rc, seconds = tool("tools.train", f"--model={model}", f"--dataset={data}",
                       f"--image_size={size}", f"--batch_size={batch}", f"--epochs={epochs}",
                       f"--steps_per_epoch={steps}", "--strategy=mirrored", "--precision=auto",
                       "--jit_compile=auto", "--recipe=none", "--lr=0.01",
                       f"--model_dir={run_dir}", timeout=300 if gpu else 240)
    report["train_seconds"] = seconds
    losses = []
    if rc == 0:
        with open(os.path.join(run_dir, "history.csv")) as f:
            losses = [float(row["loss"]) for row in csv.DictReader(f)]
    report["losses"] = losses
    report["checks"]["trained"] = rc == 0
    report["checks"]["loss_falls"] = len(losses) >= 2 and losses[-1] < losses[0]
    bench = os.path.join(out, "benchmark.csv")
    rc, seconds = tool("tools.benchmark", "--models=resnet50",
                       f"--input_size={size if gpu else 64}", f"--batch_size={batch if gpu else 4}",
                       f"--steps={10 if gpu else 2}", "--warmup=2", "--precision=auto",
                       "--jit_compile=auto", "--peak_size=0", f"--output={bench}",
                       timeout=200)
    report["checks"]["benchmark"] = rc == 0
    if rc == 0:
        with open(bench) as f:
            row = next(csv.DictReader(f))
        report["benchmark"] = {k: row.get(k) for k in (
            "precision", "jit_compile", "infer_img_s", "train_img_s", "keras_infer_img_s",
            "keras_train_img_s", "infer_ratio", "train_ratio")}
    export_dir = os.path.join(out, "export")
    rc, seconds = tool("tools.export", f"--keras_file={os.path.join(run_dir, 'final.keras')}",
                       f"--model={model}", "--format=saved_model", f"--output={export_dir}",
                       timeout=200)
    report["checks"]["export"] = rc == 0 and os.path.exists(os.path.join(export_dir,
                                                                         "export.json"))
    if report["checks"]["export"]:
        with open(os.path.join(export_dir, "export.json")) as f:
            report["export"] = json.load(f)
    with open(os.path.join(out, "device.json"), "w") as f:
        json.dump(report, f, indent=2, default=str)
    failed = [name for name, ok in report["checks"].items() if not ok]
    print(f"device checks ({'GPU' if gpu else 'no GPU, smoke scale'}): "
          f"{'all passed' if not failed else 'FAILED: ' + ', '.join(failed)}; {out}/device.json")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/kerasnets_device"))
