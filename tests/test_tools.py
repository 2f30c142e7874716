"""The command-line tools, end to end on tiny inputs in a temporary directory."""

import csv
import os
import subprocess
import sys

import pytest

import kerasnets
from kerasnets.utils import atomic_directory, atomic_write_text, tables, write_tables

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


from conftest import run_tool  # noqa: E402


def test_benchmark_writes_table_with_keras_comparison(tmp_path):
    out = tmp_path / "bench.csv"
    # float32 and no peaks: the probe and the MFU columns have tests of their own
    # (test_benchmark.py); this one is about the keras.applications comparison
    run_tool("tools.benchmark", "--models", "vgg16,vgg11", "--input_size", "32",
             "--batch_size", "2", "--steps", "1", "--warmup", "1", "--precision", "float32",
             "--jit_compile", "false", "--peak_size", "0", "--output", str(out))
    rows = {r["model"]: r for r in csv.DictReader(open(out))}
    assert set(rows) == {"vgg16", "vgg11"}
    ours = kerasnets.create_model("vgg11", input_shape=(32, 32, 3))
    assert int(rows["vgg11"]["params"]) == ours.count_params()
    assert float(rows["vgg11"]["infer_img_s"]) > 0 and float(rows["vgg11"]["train_img_s"]) > 0
    assert rows["vgg11"]["keras_model"] == ""
    assert rows["vgg16"]["keras_model"] == "keras.applications.VGG16"
    ratio = float(rows["vgg16"]["infer_ratio"])
    assert ratio == pytest.approx(float(rows["vgg16"]["infer_img_s"])
                                  / float(rows["vgg16"]["keras_infer_img_s"]), rel=0.01)
    assert "| vgg16 |" in (tmp_path / "bench.md").read_text()


def test_benchmark_unknown_model_fails_with_suggestion(tmp_path):
    proc = run_tool("tools.benchmark", "--models", "resnet5O", "--output",
                    str(tmp_path / "x.csv"), check=False)
    assert proc.returncode != 0
    assert "Unknown model name 'resnet5O'" in proc.stderr
    assert not (tmp_path / "x.csv").exists()


def test_models_table_lists_every_model(tmp_path):
    out = tmp_path / "models.md"
    run_tool("tools.models", "--output", str(out))
    text = out.read_text()
    for name in kerasnets.list_models():
        assert f"| `{name}` |" in text
        assert f"{kerasnets.get_entry(name).params:,}" in text


def test_readme_lists_every_model_and_ci_runs_its_test_command():
    from kerasnets.model_table import README_END, README_START, table

    readme = open(os.path.join(ROOT, "README.md")).read()
    in_readme = readme.split(README_START, 1)[1].split(README_END, 1)[0].strip()
    assert in_readme == table(kerasnets.list_models()).strip(), (
        "README's model table is not the registry's: python -m tools.models --readme README.md")
    for name in kerasnets.list_models():
        entry = kerasnets.get_entry(name)
        assert f"| `{name}` | `{entry.builder_name}` | {entry.params:,} |" in readme, name
    test_cmd = subprocess.run([sys.executable, os.path.join(ROOT, ".ci", "readme_command.py"), "test"],
                       capture_output=True, text=True, check=True).stdout.strip()
    assert "pytest" in test_cmd
    assert "readme_command.py test" in open(os.path.join(ROOT, ".ci", "run")).read()


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "table.csv"
    atomic_write_text(path, "old")

    with pytest.raises(TypeError):
        atomic_write_text(path, 123)  # write() of a non-str fails midway
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_atomic_directory_replaces_only_on_success(tmp_path):
    target = tmp_path / "export"
    with atomic_directory(target) as tmp:
        open(os.path.join(tmp, "a"), "w").write("1")
    assert (target / "a").read_text() == "1"
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            open(os.path.join(tmp, "b"), "w").write("2")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_tables_markdown_and_csv(tmp_path):
    rows = [{"model": "a", "acc": 0.5, "note": None}, {"model": "b,c", "acc": 1.0}]
    md, text = tables(rows, ["model", "acc", "note"], markdown_columns=["model", "acc"])
    assert md == "| model | acc |\n|---|---|\n| a | 0.5 |\n| b,c | 1.0 |\n"
    assert text == 'model,acc,note\na,0.5,\n"b,c",1.0,\n'
    written = write_tables(tmp_path / "t.csv", rows, ["model"], header="# T", fmt=str.upper)
    assert written == (tmp_path / "t.md").read_text() == "# T\n\n| model |\n|---|\n| A |\n| B,C |\n"
    assert (tmp_path / "t.csv").read_text() == 'model\nA\n"B,C"\n'
