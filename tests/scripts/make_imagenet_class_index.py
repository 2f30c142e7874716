"""Build kerasnets/data/imagenet_class_index.json (the ImageNet-1k class index shipped with the
package) from files installed with timm and torchvision, offline:

    python tests/scripts/make_imagenet_class_index.py [OUTPUT]

Class i is the i-th WordNet id of timm's `data/_info/imagenet_synsets.txt` (the 1000 ILSVRC-2012
synsets in sorted order, the standard class order) with torchvision's human label
(`torchvision.models._meta._IMAGENET_CATEGORIES`, unique names); every label is checked against
the synset's WordNet lemmas (timm's `imagenet_synset_to_lemma.txt`), allowing only torchvision's
two disambiguations ("crane bird", "maillot tank suit"). The format is keras.applications':
`{"0": ["n01440764", "tench"], ...}`.
"""

import json
import os
import sys

import timm
from torchvision.models._meta import _IMAGENET_CATEGORIES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DISAMBIGUATED = {"crane bird", "maillot tank suit"}


def main(output):
    info = os.path.join(os.path.dirname(timm.__file__), "data", "_info")
    with open(os.path.join(info, "imagenet_synsets.txt")) as f:
        wnids = f.read().split()
    with open(os.path.join(info, "imagenet_synset_to_lemma.txt")) as f:
        lemmas = dict(line.rstrip("\n").split("\t", 1) for line in f if "\t" in line)
    labels = list(_IMAGENET_CATEGORIES)
    assert len(wnids) == len(labels) == 1000 and wnids == sorted(wnids)
    assert len(set(labels)) == 1000, "labels are not unique"
    for i, (wnid, label) in enumerate(zip(wnids, labels)):
        names = [n.strip().lower() for n in lemmas[wnid].split(",")]
        assert label.lower() in names or label in DISAMBIGUATED, (i, wnid, label, names)
    rows = [f"{json.dumps(str(i))}: {json.dumps([wnid, label])}"
            for i, (wnid, label) in enumerate(zip(wnids, labels))]
    with open(output, "w") as f:  # one class per line
        f.write("{\n" + ",\n".join(rows) + "\n}\n")
    assert len(json.load(open(output))) == 1000
    print(f"wrote {output}: {len(rows)} classes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else
         os.path.join(ROOT, "kerasnets", "data", "imagenet_class_index.json"))
