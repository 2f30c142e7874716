"""How many of torchvision's and timm's names for the networks kerasnets has
(tests/data/zoo_names.txt) the registry refuses or resolves to another variant, as
`<source>/<name>` and bare (where the bare name is no canonical name).

    PYTHONPATH=. python tests/scripts/measure_zoo_names.py
    # another checkout, this list: PYTHONPATH=/path/to/checkout python tests/scripts/measure_zoo_names.py
"""

import os
import warnings

import kerasnets
from kerasnets.zoo import registry

NAMES = os.path.join(os.path.dirname(__file__), os.pardir, "data", "zoo_names.txt")


def main():
    warnings.simplefilter("ignore")
    canonical = set(kerasnets.list_models())
    refused, elsewhere, bare = [], [], []
    with open(NAMES) as f:
        lines = [line.split() for line in f if line.strip() and not line.startswith("#")]
    for name, target in lines:
        got = registry.resolve(name)
        (refused if got is None else elsewhere if got != target else []).append(name)
        short = name.split("/", 1)[1]
        if short not in canonical and registry.resolve(short) != target:
            bare.append(short)
    print(f"{len(lines)} names: {len(refused)} refused, {len(elsewhere)} resolved elsewhere; "
          f"bare names refused or elsewhere: {len(bare)}")
    for label, found in (("refused", refused), ("elsewhere", elsewhere), ("bare", bare)):
        if found:
            print(f"{label}: {' '.join(found)}")


if __name__ == "__main__":
    main()
