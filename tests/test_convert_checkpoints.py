"""Trainer-format PyTorch checkpoints (a dict with `state_dict` / `state_dict_ema`, DataParallel's
`module.` prefix, timm's `arch` and `args`) through `weights=FILE`, `load_torch_state_dict` and
`tools.convert`, compared with the torch models they came from."""

import argparse
import json

import numpy as np
import pytest

from torch_equivalence import damp_residual_branches, importorskip, randomize_torch_batchnorm

import kerasnets
from kerasnets.weights import parity
from kerasnets.weights.conversion import convert_checkpoint
from kerasnets.weights.convert import load_torch_state_dict, unwrap_state_dict

SIZE = 64


def _prepared(torch_model):
    """Non-trivial BatchNorm and damped residual branches, as the equality tests prepare them."""
    randomize_torch_batchnorm(torch_model, SIZE)
    damp_residual_branches(torch_model)
    return torch_model.eval()


@pytest.fixture(scope="module")
def resnet18_7(tmp_path_factory):
    """A torchvision ResNet-18 with 7 classes, saved as a trainer saves it:
    {"epoch", "state_dict" (DataParallel-prefixed), "optimizer", "best_acc1"}."""
    torch, torchvision = importorskip("torch", "torchvision")
    torch.manual_seed(0)
    model = _prepared(torchvision.models.resnet18(num_classes=7))
    wrapped = torch.nn.DataParallel(model)
    path = tmp_path_factory.mktemp("ckpt") / "best.pth"
    torch.save({"epoch": 12, "state_dict": wrapped.state_dict(), "best_acc1": 0.9,
                "optimizer": torch.optim.SGD(model.parameters(), 0.1, momentum=0.9).state_dict()},
               path)
    return model, path


def test_unwrap_state_dict_finds_the_model_and_strips_wrappers():
    w = np.ones((2, 2), np.float32)
    assert unwrap_state_dict({"module.model.fc.weight": w}) == {"fc.weight": w}
    got = unwrap_state_dict({"epoch": 3, "state_dict_ema": {"module.conv.weight": w}})
    assert list(got) == ["conv.weight"]
    mixed = {"module.a.weight": w, "b.weight": w}          # not every key wrapped: kept as is
    assert list(unwrap_state_dict(mixed)) == list(mixed)


def test_trainer_checkpoint_through_weights_file_and_load_torch_state_dict(resnet18_7):
    torch = importorskip("torch")
    torch_model, path = resnet18_7
    # weights=FILE: the class count comes from the checkpoint's head
    model = kerasnets.create_model("resnet18", weights=str(path), input_shape=(SIZE, SIZE, 3),
                                   classifier_activation=None)
    assert model.output_shape == (None, 7)
    taps = {f"stage{s}_out": f"layer{s}" for s in range(1, 5)}
    result = parity.compare(model, torch_model, taps, input_size=SIZE)
    assert [r["output"] for r in result.rows] == [*taps, "logits"]
    assert result.ok, result.rows
    # load_torch_state_dict takes torch.load's dict as the trainer saved it
    other = kerasnets.create_model("resnet18", classes=7, input_shape=(SIZE, SIZE, 3),
                                   classifier_activation=None)
    load_torch_state_dict(other, torch.load(path, map_location="cpu", weights_only=True))
    x = np.random.default_rng(1).standard_normal((1, SIZE, SIZE, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(other(x)), np.asarray(model(x)), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="--classes 10, but the checkpoint's classifier has 7"):
        convert_checkpoint("resnet18", path, path.parent / "x.keras", classes=10)


def test_timm_training_checkpoint_names_its_architecture(tmp_path):
    """timm's CheckpointSaver format: arch, args (an argparse.Namespace), state_dict and
    state_dict_ema; no --model needed, the EMA weights chosen by key order (state_dict first)."""
    torch, timm = importorskip("torch", "timm")
    torch.manual_seed(0)
    model = _prepared(timm.create_model("legacy_seresnet18", num_classes=5))
    path = tmp_path / "model_best.pth.tar"
    torch.save({"epoch": 4, "arch": "legacy_seresnet18", "state_dict": model.state_dict(),
                "args": argparse.Namespace(model="legacy_seresnet18", lr=0.1, epochs=5),
                "optimizer": torch.optim.SGD(model.parameters(), 0.1).state_dict(),
                "version": 2, "metric": 61.5, "state_dict_ema": model.state_dict()}, path)
    result = convert_checkpoint(None, path, tmp_path / "out" / "se18.weights.h5", check=True,
                                input_size=SIZE)
    assert (result.variant, result.source, result.classes) == ("seresnet18_timm", "timm", 5)
    assert result.parity.ok, result.parity.rows
    report = json.loads((tmp_path / "out" / "parity.json").read_text())
    assert [r["output"] for r in report["rows"]][-1] == "logits" and len(report["rows"]) == 5
    assert "legacy_seresnet18" in (tmp_path / "out" / "parity.md").read_text()
    loaded = kerasnets.create_model("legacy_seresnet18", weights=str(path),
                                    input_shape=(SIZE, SIZE, 3))
    assert loaded.output_shape == (None, 5)


def test_check_is_skipped_without_torch(resnet18_7, tmp_path, monkeypatch):
    def no_torch(*libraries):
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    monkeypatch.setattr(parity, "import_torch", no_torch)
    result = convert_checkpoint("resnet18", resnet18_7[1], tmp_path / "r18.weights.h5",
                                check=True)
    assert result.parity is None and "skipped: torch is not installed" in result.skipped
    assert (tmp_path / "r18.weights.h5").exists() and not (tmp_path / "parity.md").exists()


@pytest.mark.slow
def test_convert_tool_end_to_end(resnet18_7, tmp_path):
    from conftest import run_tool

    out = tmp_path / "r18.keras"
    proc = run_tool("tools.convert", "--model", "resnet18", "--checkpoint", str(resnet18_7[1]),
                    "--output", str(out), "--check", f"--input_size={SIZE}")
    assert "7 classes" in proc.stdout and "parity ok" in proc.stdout, proc.stdout
    report = json.loads((tmp_path / "parity.json").read_text())
    assert report["ok"] and report["worst"] <= 1e-4
    assert kerasnets.load_model(out, compile=False).output_shape == (None, 7)
    bad = run_tool("tools.convert", "--checkpoint", str(resnet18_7[1]), "--output",
                   str(tmp_path / "x.keras"), check=False)
    assert bad.returncode == 2 and "error: " in bad.stderr and "--model" in bad.stderr
