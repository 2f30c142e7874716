"""pipelines.sources: built-in digits, image folders with bad files, TFRecords written by
tools.make_tfrecords, TFDS under tfds.testing.mock_data, and the offline fail-fast path."""

import collections
import json
import logging
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from pipelines import sources
from pipelines.sources import tfds_source

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def items(ds):
    """[(image, label)]; fixed-shape datasets are read in one batch (much faster)."""
    if ds.element_spec[0].shape.is_fully_defined():
        return [(x, y) for xs, ys in ds.batch(1 << 16).as_numpy_iterator()
                for x, y in zip(xs, ys.tolist())]
    return [(x, int(y)) for x, y in ds.as_numpy_iterator()]


def multiset(pairs):
    return collections.Counter((y, x.shape, x.tobytes()) for x, y in pairs)


# ----------------------------------------------------------------------------- digits

def test_digits_split_is_a_fixed_stratified_partition():
    train, info = sources.load("digits", "train")
    test, test_info = sources.load("digits", "test", seed=5)
    everything, _ = sources.load("digits", "all")
    train, test, everything = items(train), items(test), items(everything)
    assert info == sources.DatasetInfo("digits", 10, tuple("0123456789"), len(train), (8, 8, 1))
    assert test_info.num_examples == len(test)
    assert len(everything) == 1797 and len(train) + len(test) == 1797
    assert multiset(train) + multiset(test) == multiset(everything)  # disjoint and complete
    x, _ = train[0]
    assert x.dtype == np.uint8 and x.shape == (8, 8, 1) and max(x.max() for x, _ in train) == 255
    per_class = collections.Counter(y for _, y in everything)
    for c, n in collections.Counter(y for _, y in test).items():
        assert n == round(per_class[c] * 0.2)  # stratified 80/20
    # `seed` only shuffles; `split_seed` moves examples between the splits.
    again, _ = sources.load("digits", "train", seed=1)
    assert multiset(items(again)) == multiset(train)
    assert [y for _, y in items(again)] != [y for _, y in train]
    moved, _ = sources.load("digits", "train", split_seed=1)
    assert multiset(items(moved)) != multiset(train)
    assert [y for _, y in items(sources.load("digits", "train")[0])] == [y for _, y in train]


def test_digits_class_subsets_remap_labels_and_keep_names():
    full = items(sources.load("digits", "train")[0])
    high, info = sources.load("digits", "train", classes=(5, 6, 7, 8, 9))
    high = items(high)
    assert info.class_names == ("5", "6", "7", "8", "9") and info.num_classes == 5
    assert info.num_examples == len(high) == sum(y >= 5 for _, y in full)
    assert {y for _, y in high} == set(range(5))
    assert multiset(high) == multiset((x, y - 5) for x, y in full if y >= 5)
    alias, alias_info = sources.load("digits_5_9", "train")
    assert alias_info.class_names == info.class_names
    assert multiset(items(alias)) == multiset(high)
    low, low_info = sources.load("digits_0_4", "test", channels=3)
    low = items(low)
    assert low_info.image_shape == (8, 8, 3) and low[0][0].shape == (8, 8, 3)
    assert {y for _, y in low} == set(range(5))
    picked, picked_info = sources.load("digits", "test", classes=("9", 3))
    assert picked_info.class_names == ("9", "3")
    assert {"digits", "digits_0_4", "digits_5_9"} <= set(sources.list_sources())
    with pytest.raises(ValueError, match="Unknown class 'x'"):
        sources.load("digits", classes=("x",))
    with pytest.raises(ValueError, match="out of range"):
        sources.load("digits", classes=(10,))
    with pytest.raises(ValueError, match="already selects classes"):
        sources.load("digits_0_4", classes=(1,))
    with pytest.raises(ValueError, match="Unknown split 'validation' of 'digits'"):
        sources.load("digits", "validation")


# ----------------------------------------------------------------------------- photos

def test_photos_are_fixed_views_of_the_sample_photographs_with_disjoint_splits():
    pytest.importorskip("skimage")
    from pipelines.sources import photos

    val, info = sources.load("photos", "validation")
    assert info == sources.DatasetInfo("photos", 10, photos.PHOTOS, 300, (256, 256, 3))
    assert sources.load("photos", "train")[1].num_examples == 1200
    assert "photos" in sources.list_sources() and sources.resolve("photos") == ("builtin", "photos")
    assert val.element_spec[0].dtype == tf.uint8 and val.element_spec[1].dtype == tf.int64
    first = items(val)
    assert collections.Counter(y for _, y in first) == {c: 30 for c in range(10)}
    assert {x.shape for x, _ in first} == {(256, 256, 3)}
    again = items(sources.load("photos", "test")[0])           # "test" names the validation split
    assert [(y, x.tobytes()) for x, y in again] == [(y, x.tobytes()) for x, y in first]
    assert len({x.tobytes() for x, _ in first}) == 300           # 300 different views
    # Each view is the crop's centred square, resized, every second one flipped.
    index, squares, flips, labels = photos.view_table("validation")
    top, left, side = squares[1]
    crop = photos.photographs()[index[1]][top:top + side, left:left + side]
    expected = tf.image.resize(tf.cast(crop, tf.float32), (256, 256), antialias=True).numpy()
    expected = np.clip(np.round(expected), 0, 255).astype(np.uint8)
    assert flips[1] and not flips[0] and side >= 64
    assert np.array_equal(first[1][0], expected[:, ::-1])
    # train and validation are different views of the same photographs
    train_index, train_squares, train_flips, _ = photos.view_table("train")
    keys = lambda *t: {(int(p), *map(int, s), bool(f)) for p, s, f in zip(*t)}  # noqa: E731
    assert not keys(index, squares, flips) & keys(train_index, train_squares, train_flips)
    assert len(keys(train_index, train_squares, train_flips)) == 1200
    # ten different photographs (skimage's `cat` is `chelsea`: it was once both)
    pictures = photos.photographs()
    assert len({(p.shape, p.tobytes()) for p in pictures}) == 10
    assert all(p.dtype == np.uint8 and p.ndim == 3 and p.shape[-1] == 3 for p in pictures)
    moved = photos.view_table("validation", split_seed=1)[1]
    assert not np.array_equal(moved, squares)
    picked, picked_info = sources.load("photos", "validation", classes=("coffee", "chelsea"))
    assert picked_info.class_names == ("coffee", "chelsea") and picked_info.num_examples == 60
    assert [x.tobytes() for x, y in items(picked) if y == 0] == \
        [x.tobytes() for x, y in first if y == 2]
    with pytest.raises(ValueError, match="Unknown split 'holdout' of 'photos'"):
        sources.load("photos", "holdout")


def test_photos_without_scikit_image_name_the_install(monkeypatch):
    from pipelines.sources import photos

    monkeypatch.setitem(sys.modules, "skimage", None)   # `import skimage` raises ImportError
    photos.photographs.cache_clear()
    try:
        assert not photos.available()
        with pytest.raises(sources.DatasetUnavailableError, match="pip install scikit-image"):
            sources.load("photos", "train")
    finally:
        photos.photographs.cache_clear()


# ----------------------------------------------------------------------------- image folders

def _image(rng, h, w):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def make_folder(root, bad=True, per_class=4):
    """cat/: PNGs, dog/: JPEGs; with `bad`: a corrupt .jpg, a truncated JPEG, a .txt file and
    an empty class folder."""
    rng = np.random.default_rng(0)
    for c, (name, encode) in enumerate([("cat", tf.io.encode_png), ("dog", tf.io.encode_jpeg)]):
        os.makedirs(root / name)
        for i in range(per_class):
            data = encode(_image(rng, 10 + i, 12 + c)).numpy()
            (root / name / f"{i}.{'png' if c == 0 else 'jpg'}").write_bytes(data)
    (root / "dog" / ".DS_Store").write_bytes(b"\0\1")  # hidden files are ignored
    if bad:
        (root / "cat" / "corrupt.jpg").write_bytes(rng.bytes(300))
        jpeg = tf.io.encode_jpeg(_image(rng, 16, 16)).numpy()
        (root / "dog" / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
        (root / "cat" / "notes.txt").write_text("not an image")
        os.makedirs(root / "empty")
    return root


BAD = ("cat/corrupt.jpg", "cat/notes.txt", "dog/truncated.jpg", "empty")


@pytest.mark.parametrize("verify", ["decode", "header"])
def test_folder_bad_files_raise_naming_them(tmp_path, verify):
    root = make_folder(tmp_path / "pets")
    with pytest.raises(ValueError) as err:
        sources.load(str(root), "all", verify=verify)
    message = str(err.value)
    assert "4 bad file(s)" in message and "on_error='skip'" in message
    for name in BAD:
        assert str(root / name) in message, name
    assert "truncated JPEG" in message and "not an image file" in message
    assert "empty class folder" in message


def test_folder_skip_mode_counts_and_yields_the_good_images(tmp_path, caplog):
    root = make_folder(tmp_path / "pets")
    with caplog.at_level(logging.WARNING, logger="pipelines.sources"):
        ds, info = sources.load(str(root), "all", on_error="skip")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("Skipped 4 bad file(s)")
    assert sorted(info.skipped) == sorted(str(root / n) for n in BAD)
    assert info.class_names == ("cat", "dog", "empty") and info.num_classes == 3
    got = items(ds)
    assert info.num_examples == len(got) == 8 and info.image_shape == (None, None, 3)
    assert sorted((y, x.shape) for x, y in got) == sorted(
        [(0, (10 + i, 12, 3)) for i in range(4)] + [(1, (10 + i, 13, 3)) for i in range(4)])
    assert all(x.dtype == np.uint8 for x, _ in got)
    pngs = {tf.io.decode_png((root / "cat" / f"{i}.png").read_bytes()).numpy().tobytes()
            for i in range(4)}
    assert {x.tobytes() for x, y in got if y == 0} == pngs  # lossless: exact pixels


def test_folder_validation_split_is_stratified_disjoint_and_fixed(tmp_path):
    root = make_folder(tmp_path / "pets", bad=False, per_class=10)
    train, info = sources.load(str(root), "train", validation_fraction=0.3)
    val, val_info = sources.load(str(root), "validation", validation_fraction=0.3, seed=3)
    everything = items(sources.load(str(root), "all")[0])
    train, val = items(train), items(val)
    assert (info.num_examples, val_info.num_examples) == (14, 6)
    assert collections.Counter(y for _, y in val) == {0: 3, 1: 3}
    assert multiset(train) + multiset(val) == multiset(everything)
    other = items(sources.load(str(root), "validation", validation_fraction=0.3,
                               split_seed=7)[0])
    assert multiset(other) != multiset(val)
    assert multiset(items(sources.load(str(root), "validation", validation_fraction=0.3)[0])) \
        == multiset(val)
    dogs, dogs_info = sources.load(str(root), "train", classes=("dog",), validation_fraction=0.3)
    assert dogs_info.class_names == ("dog",) and {y for _, y in items(dogs)} == {0}
    by_index, _ = sources.load(str(root), "train", classes=["1"], validation_fraction=0.3)
    assert multiset(items(by_index)) == multiset(items(dogs))  # "1" from a command line
    test, _ = sources.load(str(root), "test", validation_fraction=0.3)  # alias for tools
    assert multiset(items(test)) == multiset(val)
    with pytest.raises(ValueError, match="Unknown split 'dev'"):
        sources.load(str(root), "dev")


def test_folder_with_separate_validation_folder(tmp_path):
    make_folder(tmp_path / "data" / "train", bad=False, per_class=2)
    os.makedirs(tmp_path / "data" / "val" / "dog")
    data = tf.io.encode_jpeg(np.zeros((5, 7, 3), np.uint8)).numpy()
    (tmp_path / "data" / "val" / "dog" / "a.jpg").write_bytes(data)
    val, info = sources.load(str(tmp_path / "data"), "val")
    assert info.class_names == ("cat", "dog") and info.image_shape == (5, 7, 3)
    assert [(x.shape, y) for x, y in items(val)] == [((5, 7, 3), 1)]
    assert sources.load(str(tmp_path / "data"), "train")[1].num_examples == 4


# ----------------------------------------------------------------------------- TFRecords

def test_make_tfrecords_tool_round_trips_the_folder(tmp_path):
    root = make_folder(tmp_path / "pets", per_class=6)
    prefix = tmp_path / "out" / "pets"
    proc = subprocess.run(
        [sys.executable, "-m", "tools.make_tfrecords", "--input_dir", str(root), "--output",
         str(prefix), "--num_shards", "2", "--validation_fraction", "0.34", "--on_error", "skip"],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "skipped 4 bad file(s)" in proc.stdout
    meta = json.loads((tmp_path / "out" / "pets.json").read_text())
    assert sorted(os.listdir(tmp_path / "out")) == sorted(
        ["pets.json"] + meta["splits"]["train"]["files"] + meta["splits"]["validation"]["files"])
    assert len(meta["splits"]["train"]["files"]) == 2
    for split in ("train", "validation"):
        folder, folder_info = sources.load(str(root), split, validation_fraction=0.34,
                                           on_error="skip")
        records, info = sources.load(str(prefix), split)
        assert info.class_names == folder_info.class_names == ("cat", "dog", "empty")
        assert info.num_examples == folder_info.num_examples > 0
        assert multiset(items(records)) == multiset(items(folder))
    dogs, dogs_info = sources.load(f"tfrecord:{prefix}", "train", classes=("dog",))
    assert dogs_info.num_examples == len(items(dogs)) == 4 and {y for _, y in items(dogs)} == {0}
    assert multiset(items(sources.load(str(prefix), "test")[0])) == multiset(
        items(sources.load(str(prefix), "validation")[0]))
    with pytest.raises(ValueError, match="Unknown split 'dev'"):
        sources.load(str(prefix), "dev")


def test_write_tfrecords_refuses_bad_folder_and_writes_nothing(tmp_path):
    root = make_folder(tmp_path / "pets")
    with pytest.raises(ValueError, match="truncated.jpg"):
        sources.write_tfrecords(str(root), str(tmp_path / "out" / "pets"), num_shards=2)
    good = make_folder(tmp_path / "good", bad=False, per_class=2)
    with pytest.raises(ValueError, match="num_shards"):
        sources.write_tfrecords(str(good), str(tmp_path / "out" / "good"), num_shards=5)
    assert not (tmp_path / "out").exists()
    sources.write_tfrecords(str(good), str(tmp_path / "out" / "good"), num_shards=3)
    sources.write_tfrecords(str(good), str(tmp_path / "out" / "good"), num_shards=1)
    assert sorted(os.listdir(tmp_path / "out")) == [  # the earlier run's shards are gone
        "good-train.tfrecord-00000-of-00001", "good.json"]
    with pytest.raises(FileNotFoundError, match="No TFRecord metadata"):
        sources.load(f"tfrecord:{tmp_path / 'nothing'}")


# ----------------------------------------------------------------------------- TFDS

@pytest.fixture
def no_probe(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the network probe must not run here")

    monkeypatch.setattr(tfds_source, "network_available", fail)


def test_tfds_under_mock_data(no_probe):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        ds, info = sources.load("cifar10", "test")
        got = items(ds)
        assert info.num_classes == len(info.class_names) == 10
        assert info.image_shape == (32, 32, 3) and info.num_examples is None  # no split metadata
        assert len(got) == 6 and all(x.dtype == np.uint8 and x.shape == (32, 32, 3)
                                     for x, _ in got)
        assert ds.element_spec[1].dtype == tf.int64 and all(0 <= y < 10 for _, y in got)
        # tf_flowers: images of random sizes; a class subset; grayscale conversion.
        flowers, finfo = sources.load("tf_flowers", "train", classes=(4, 2, 3), channels=1)
        flowers = items(flowers)
        names = tfds.builder("tf_flowers").info.features["label"].names
        assert finfo.class_names == (names[4], names[2], names[3]) and finfo.num_classes == 3
        assert finfo.image_shape == (None, None, 1)
        assert all(x.ndim == 3 and x.shape[-1] == 1 and 0 <= y < 3 for x, y in flowers)
        assert len({x.shape for x, _ in items(sources.load("tf_flowers")[0])}) > 1


def test_unknown_names_list_close_ones():
    with pytest.raises(ValueError, match=r"Did you mean: cifar10\b"):
        sources.load("cifar1O")
    with pytest.raises(ValueError, match="digits"):
        sources.load("digit")
    with pytest.raises(FileNotFoundError, match="No such image folder"):
        sources.load("/no/such/folder")
    with pytest.raises(ValueError, match="on_error"):
        sources.load("digits", on_error="ignore")


def test_tfds_offline_fails_fast_with_clear_message(tmp_path, monkeypatch):
    probes = []
    monkeypatch.setattr(tfds_source, "network_available",
                        lambda *a, **k: probes.append(1) or False)
    with pytest.raises(sources.DatasetUnavailableError) as err:
        sources.load("cifar10", data_dir=str(tmp_path))
    message = str(err.value)
    assert probes == [1]
    assert f"'cifar10' is not in {tmp_path}" in message and "no network" in message
    assert "tfds build cifar10" in message and "data_dir" in message
    with pytest.raises(sources.DatasetUnavailableError, match="imagenette --config 320px"):
        sources.load("imagenette/320px", data_dir=str(tmp_path))
    with pytest.raises(sources.DatasetUnavailableError, match="download=False"):
        sources.load("cifar10", data_dir=str(tmp_path), download=False)
    with pytest.raises(sources.DatasetUnavailableError, match="downloads/manual"):
        sources.load("imagenet2012", data_dir=str(tmp_path))
    assert probes == [1, 1]  # manual-download and download=False need no probe
    assert not any(tmp_path.iterdir())  # nothing was started


def test_network_probe_sees_an_open_and_a_closed_port(monkeypatch):
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        assert sources.network_available(("127.0.0.1", port), timeout=2)
    finally:
        server.close()
    assert not sources.network_available(("127.0.0.1", port), timeout=2)


def test_package_exports_and_one_module_per_kind():
    """pipelines.sources is a package: the names importers use stay on it, and each kind of
    source lives in its own module (the TFDS one does not shadow tensorflow_datasets)."""
    from pipelines.sources import common, digits, folders, tfrecords

    for name in sources.__all__:
        assert hasattr(sources, name), name
    assert sources.DatasetInfo is common.DatasetInfo
    assert sources.write_tfrecords is tfrecords.write_tfrecords
    assert sources.list_folder is folders.list_folder
    assert sources.digits_arrays is digits.digits_arrays
    assert {sources.resolve("digits_5_9")[0], sources.resolve("cifar10")[0]} == {"builtin", "tfds"}
    assert not hasattr(sources, "tfds") and tfds_source.__name__.endswith(".tfds_source")
