#!/usr/bin/env bash
# Device checks for a GPU machine (issue #24), within 8 minutes:
#   tests/device/run.sh [OUT]          (default OUT: /tmp/kerasnets_device)
# Trains resnet50 at 224 px for a few steps under MirroredStrategy with --precision auto and
# --jit_compile auto, checks that the loss falls, measures img/s against keras.applications'
# ResNet50 in the same run, exports the trained model (reloaded and compared by tools.export)
# and writes OUT/device.json. Without a GPU it says so and runs the same steps at smoke scale
# (resnet20_cifar, 32 px) to check the script itself; the exit status is 0 only if every check
# passed.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
OUT="${1:-/tmp/kerasnets_device}"
exec timeout 480 python tests/device/check.py "$OUT"
