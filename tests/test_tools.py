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
    """tools.benchmark's model job (`kerasnets.experiments.benchmark_tables.model_table`) through the one
    table writer: float32 and no peaks (the probe and the MFU columns have tests of their own,
    test_benchmark.py, whose tool run is tools.benchmark's end-to-end test)."""
    from kerasnets.experiments.benchmark_tables import model_table
    from kerasnets.results import write_table

    out = tmp_path / "bench.csv"
    table = model_table(["vgg16", "vgg11"], input_size=32, batch_size=2, steps=1, warmup=1,
                        precision="float32", jit_compile="false", peak_size=0, log=lambda _: None)
    write_table(table, str(out))
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
    with pytest.raises(ValueError, match="below vgg11's minimum"):
        model_table(["vgg11"], input_size=8, peak_size=0)


def test_benchmark_unknown_model_fails_with_suggestion(tmp_path):
    from kerasnets.zoo.info import resolve_models

    with pytest.raises(ValueError, match="Unknown model name 'resnet5O'"):
        resolve_models("resnet5O")
    with pytest.raises(ValueError, match=r"No registered model matches 'nope\*'"):
        resolve_models("vgg11,nope*")


def test_table_formats_and_writer(tmp_path):
    from kerasnets.results import ACCURACY, FOUR_SIGNIFICANT, SPEED, Table, write_table

    assert [SPEED(v) for v in (3.14159, 1234.5, None, 7)] == ["3.14", "1234", "", "7"]
    assert [ACCURACY(v) for v in (0.5, 1e-5, 0.0)] == ["0.5000", "1.00e-05", "0.0000"]
    assert FOUR_SIGNIFICANT(1.23456) == "1.235"
    table = Table([{"a": 1.5, "b": None}], ["a", "b"], header="# T", footer="\nnote\n",
                  markdown_columns=["a"], output=str(tmp_path / "default.csv"))
    markdown, where = write_table(table)
    assert markdown == "# T\n\n| a |\n|---|\n| 1.5 |\n\nnote\n" == \
        (tmp_path / "default.md").read_text()
    assert (tmp_path / "default.csv").read_text() == "a,b\n1.5,\n"
    assert where.endswith("default.md") and table.markdown() == markdown[len("# T\n\n"):]


def test_models_table_lists_every_model(tmp_path):
    out = tmp_path / "models.md"
    run_tool("tools.models", "--output", str(out))
    text = out.read_text()
    for name in kerasnets.list_models():
        assert f"| `{name}` |" in text
        assert f"{kerasnets.get_entry(name).params:,}" in text


def test_readme_lists_every_model_and_ci_runs_its_test_command():
    from kerasnets.zoo.model_table import README_END, README_START, table

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


def test_thin_tools_stay_thin():
    """design.md's thin tools: flags, one library call, the result written (issue 22). Every
    file of tools/ (the shared flags and the package's runner too) has at most 150 lines."""
    names = sorted(n for n in os.listdir(os.path.join(ROOT, "tools")) if n.endswith(".py"))
    assert {"distill.py", "flags.py", "__init__.py", "train.py"} <= set(names)
    for name in names:
        with open(os.path.join(ROOT, "tools", name)) as f:
            assert len(f.read().splitlines()) <= 150, name


def test_design_layout_matches_the_tree():
    """docs/design.md's Layout section is `kerasnets.design_layout.render()` of the tree (every
    package and module with its docstring's first sentence), and what it names exists."""
    from kerasnets import design_layout

    with open(design_layout.DESIGN, encoding="utf-8") as f:
        text = f.read()
    assert text == design_layout.update(text), "run `python -m kerasnets.design_layout`"
    section = text.split(design_layout.START, 1)[1].split(design_layout.END, 1)[0]
    assert "    job.py                The jobs of `tools.distill`" in section
    assert "  flags.py                Flags shared by several tools." in section
    for name, _ in design_layout.OTHERS:
        assert os.path.exists(os.path.join(ROOT, name)), name
    for module in ("kerasnets/zoo/info.py", "pipelines/sources/folders.py", "tools/distill.py"):
        assert design_layout.purpose(os.path.join(ROOT, module)).endswith(".")
    assert design_layout.purpose(os.path.join(ROOT, "kerasnets", "quantization.py")).startswith(
        "Bias correction for post-training int8 quantisation (Nagel et al. 2019,")
