"""One `Checkpoint` record per published file: declared in its family file, complete, selected by
`weights=`, and the one place the evaluation transform comes from."""

import importlib
import re

import numpy as np
import pytest

import kerasnets
from kerasnets.zoo import registry
from kerasnets.weights import records
from kerasnets.weights.records import Checkpoint, Transform


def test_public_weights_api_imports():
    from kerasnets.weights import (checkpoints, default_checkpoint,  # noqa: F401
                                   load_torch_state_dict, read_checkpoint, select_checkpoint,
                                   variant_for)
    import kerasnets.weights as weights

    assert all(hasattr(weights, name) for name in weights.__all__)
    assert weights.variant_for("torchvision", "resnet50") == "resnet50_v1_5"


def test_every_record_is_complete():
    declared = records.declared()
    assert sum(len(rs) for rs in declared.values()) >= 100 and len(declared) >= 95
    for variant, found in declared.items():
        entry = kerasnets.get_entry(variant)
        assert found and len({r.label for r in found}) == len(found), variant
        for r in found:
            assert r.transform.normalization in registry.PREPROCESSING, r.label
            assert 0 < r.transform.crop_fraction <= 1, r.label
            assert r.license and r.metrics_from and r.top1 and 50 < r.top1 < 90, r.label
            assert r.url or r.package_path is not None, r.label
            assert r.num_classes == entry.classes, r.label
            assert (r.sha256 is None) == (r.sha256_kind is None) and (r.sha256 or r.no_sha256)
            if r.source == "torchvision":  # the published prefix is in the file's name
                assert r.sha256_kind == "prefix" and f"-{r.sha256}." in r.file_name, r.label
                assert r.url.endswith("/" + r.file_name), r.label
            if r.source == "package":
                assert r.sha256_kind == "full", r.label
        if entry.keras_equivalent:  # Keras' own file is a twin's default
            assert found[0].source == "keras" and found[0].model == entry.keras_equivalent


def test_records_are_declared_beside_their_variants():
    """Each family file's WEIGHTS table is exactly what the registry serves: adding a
    checkpoint is one record there."""
    seen = set()
    for variant in records.declared():
        module = importlib.import_module(kerasnets.get_entry(variant).builder.__module__)
        tables = [t for key, t in vars(module).items() if key.endswith("WEIGHTS")
                  and isinstance(t, dict) and variant in t]
        assert len(tables) == 1, variant
        assert records.checkpoints(variant) == tuple(tables[0][variant])
        seen.add(variant)
    assert seen == set(records.declared())


def test_weights_select_a_record_by_source_or_tag():
    assert records.select("vgg16").source == "keras"
    assert records.select("vgg16", "torchvision").label == "torchvision:vgg16"
    assert records.select("vgg16", "IMAGENET1K_V1").source == "torchvision"
    assert records.select("seresnext50_32x4d_timm", "racm_in1k").tag == "racm_in1k"
    assert records.select("efficientnet_b0", "keras").model == "EfficientNetB0"
    with pytest.raises(ValueError, match=r"no such checkpoint \(published: keras \(imagenet\), "
                                         r"torchvision \(IMAGENET1K_V1\)\)"):
        records.select("vgg16", "timm")
    with pytest.raises(ValueError, match="vgg11_lrn has no published ImageNet weights"):
        kerasnets.create_model("vgg11_lrn", weights="imagenet")
    with pytest.raises(ValueError, match="racm_in1k.*no such checkpoint"):
        kerasnets.create_model("vgg16", weights="racm_in1k")
    with pytest.raises(FileNotFoundError):
        kerasnets.create_model("resnet18", weights="missing.weights.h5",
                               input_shape=(32, 32, 3))


def test_model_info_lists_every_record():
    info = kerasnets.model_info("vgg16", flops=False)
    assert [c["label"] for c in info["checkpoints"]] == info["pretrained"]
    keras_file, torch_file = info["checkpoints"]
    assert keras_file["files"]["top"].endswith("vgg16_weights_tf_dim_ordering_tf_kernels.h5")
    assert torch_file["transform"] == {"size": 224, "resize": 256, "interpolation": "bilinear",
                                       "normalization": "torch", "crop_fraction": 0.875}
    assert torch_file["top5"] == 90.382 and torch_file["sha256_kind"] == "prefix"
    assert kerasnets.model_info("lenet5", flops=False)["checkpoints"] == []


def test_the_transform_comes_from_the_record():
    assert records.evaluation_transform("resnet50_v1_5", "imagenet") == Transform(224, 232)
    timm = records.evaluation_transform("seresnet50_timm", "imagenet")
    assert (timm.size, timm.resize, timm.interpolation) == (288, 288, "bicubic")
    assert records.evaluation_transform("lenet5", "imagenet").normalization == "torch"
    assert records.evaluation_transform("vgg16", None) == Transform(224, 256,
                                                                    normalization="caffe")
    pixels = np.full((1, 4, 4, 3), 128.0, "float32")
    caffe = kerasnets.preprocess_input("vgg16", pixels)
    torch = kerasnets.preprocess_input("vgg16", pixels, "torchvision")
    np.testing.assert_allclose(torch[0, 0, 0], (128 / 255 - np.array([0.485, 0.456, 0.406]))
                               / np.array([0.229, 0.224, 0.225]), rtol=1e-5)
    np.testing.assert_allclose(caffe[0, 0, 0], 128 - np.array([103.939, 116.779, 123.68]),
                               rtol=1e-5)

    from pipelines.transforms import model_defaults

    tv = model_defaults("efficientnet_b1_tv", "imagenet")
    assert (tv["crop_fraction"], tv["interpolation"]) == (240 / 255, "bilinear")
    assert "crop_fraction" not in model_defaults("efficientnet_b1_tv")


def test_the_default_checkpoint_normalises_as_the_registry_says():
    # so preprocess_input(name, x) is unchanged by reading the record
    for name in kerasnets.list_models():
        assert (records.evaluation_transform(name, "imagenet").normalization
                == kerasnets.get_entry(name).preprocessing), name


def test_builder_docstrings_name_paper_size_and_weights():
    for name in kerasnets.list_models():
        entry = kerasnets.get_entry(name)
        doc = entry.builder.__doc__
        assert entry.paper.title in doc and f"{entry.params:,}" in doc, name
        assert f"Input size: {entry.input_shape}" in doc, name
        weights = re.search(r"Weights: (.*)\.\n", doc)[1]
        found = records.checkpoints(name)
        assert all(f"{r.source} ({r.tag})" in weights for r in found), name
        assert found or weights.startswith("none published"), name


def test_a_record_refuses_incomplete_facts():
    with pytest.raises(ValueError, match="why there is none"):
        Checkpoint("timm", "x", "t", Transform(224, 256), url="u")
    with pytest.raises(ValueError, match="hex"):
        Checkpoint("torchvision", "x", "t", Transform(224, 256), url="u", sha256="xyz")
    with pytest.raises(ValueError, match="size <= resize"):
        Transform(256, 224)
    with pytest.raises(ValueError, match="source must be"):
        Checkpoint("hub", "x", "t", Transform(224, 256), no_sha256="n/a")
