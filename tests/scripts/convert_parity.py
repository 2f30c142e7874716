"""Parity figures of tools.convert's library (kerasnets.weights.conversion) for trainer-format
checkpoints with non-ImageNet class counts: each source model at random initialisation (BatchNorm
randomised, residual branches damped, as tests/torch_equivalence.py prepares them), saved as a
trainer saves it (torchvision: {"epoch", "state_dict": DataParallel-prefixed}; timm: {"epoch",
"arch", "state_dict", "args": Namespace}), converted with check=True; prints the worst relative
difference and each tap's.

    PYTHONPATH=. python tests/scripts/convert_parity.py
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from torch_equivalence import importorskip, randomize_torch_batchnorm, damp_residual_branches
torch, torchvision, timm = importorskip("torch", "torchvision", "timm")
from kerasnets.weights.conversion import convert_checkpoint
from kerasnets.weights import parity
cases = [("torchvision", "resnet18", "resnet18", 7, 64), ("torchvision", "mobilenet_v2", "mobilenet_v2_tv", 5, 64),
         ("torchvision", "densenet121", "densenet121", 3, 64), ("torchvision", "squeezenet1_1", "squeezenet1_1", 4, 64),
         ("torchvision", "efficientnet_b0", "efficientnet_b0_tv", 6, 64), ("torchvision", "shufflenet_v2_x0_5", "shufflenet_v2_x0_5", 9, 64),
         ("torchvision", "resnext50_32x4d", "resnext50_32x4d", 2, 64),
         ("timm", "legacy_seresnet18", None, 5, 64), ("timm", "inception_v4", None, 11, 299)]
rows = []
for source, name, model, classes, size in cases:
    d = tempfile.mkdtemp()
    torch.manual_seed(0)
    m = parity.build_source_model(source, name, classes=classes)
    randomize_torch_batchnorm(m, size); damp_residual_branches(m)
    path = os.path.join(d, "ckpt.pth")
    if source == "torchvision":
        torch.save({"epoch": 1, "state_dict": torch.nn.DataParallel(m).state_dict()}, path)
    else:
        torch.save({"epoch": 1, "arch": name, "state_dict": m.state_dict(), "args": argparse.Namespace(model=name)}, path)
    t = time.time()
    try:
        r = convert_checkpoint(model, path, os.path.join(d, "out.weights.h5"), check=True, input_size=size)
        row = (source, name, r.variant, r.classes, size, r.parity.worst, [f"{x['output']}={x['relative']:.2g}" for x in r.parity.rows])
    except Exception as e:
        row = (source, name, model, classes, size, "ERROR", f"{type(e).__name__}: {str(e)[:300]}")
    print(row, f"{time.time()-t:.0f}s", flush=True)
