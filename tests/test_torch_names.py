"""`_torch_names`: the one way families turn regex rules into `TorchMapping.rename`."""

from kerasnets.applications._torch_names import exact, nested, rename_rules


def test_templates_callables_none_and_pass_through():
    rename = rename_rules([
        (r"layer(?P<s>\d)\.(?P<b>\d+)\.conv", lambda m: f"stage{m['s']}_block{int(m['b']) + 1}"),
        (r"(layer0\.)?bn(?P<i>\d)", "stem_{i}_bn"),  # an unnamed group is ignored
        (r"aux\..*", None),
        (r"fc", "predictions"), (r"f.", "never")])  # the first rule that matches wins
    assert rename("layer2.0.conv") == "stage2_block1"
    assert rename("layer0.bn1") == rename("bn1") == "stem_1_bn"
    assert rename("aux.fc") is None
    assert rename("fc") == "predictions"
    assert rename("layer2.0.conv.x") == "layer2.0.conv.x"  # whole-path match only, else unchanged


def test_nested_joins_outer_and_inner_names():
    inner = [(r"branch(?P<b>\d)\.(?P<t>conv|bn)", lambda m: f"{int(m['b']) + 1}_{m['t']}"),
             (r"", "out"), (r"aux", None),
             *nested(r"rep\.(?P<i>\d)", "r{i}", [(r"pw", "pointwise")])]
    rename = rename_rules(nested(r"mix_(?P<k>a|b)", "block_{k}", inner) + exact({"a.b": "top"}))
    assert rename("mix_a.branch0.bn") == "block_a_1_bn"
    assert rename("mix_b") == "block_b_out"
    assert rename("mix_b.aux") is None
    assert rename("mix_a.rep.3.pw") == "block_a_r3_pointwise"
    assert rename("mix_a.branch0.zz") == "mix_a.branch0.zz"  # the whole path, for the error
    assert rename("a.b") == "top" and rename("aXb") == "aXb"  # exact paths are escaped
