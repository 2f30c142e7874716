"""One specialist with a dustbin class beside the generalist on mnist5k, 3 seeds
(`kerasnets.experiments.distillation.specialists`); writes docs/results/hinton_specialists.{md,csv}.

    python tests/scripts/hinton_specialists.py [NUM_SEEDS]
"""

import sys

from kerasnets.experiments.distillation import hinton, specialists
from kerasnets.utils import write_tables
from pipelines.sources import mnist5k_arrays

seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
data = hinton.Arrays(*mnist5k_arrays("train"), *mnist5k_arrays("test"))
rows = [specialists.run(data, seed=seed) for seed in range(seeds)]
for row in rows:
    row["group"] = " ".join(map(str, row["group"]))
    row["groups"] = "; ".join(" ".join(map(str, g)) for g in row["groups"])
header = ("One specialist (dustbin class, soft-target regularised, from the generalist's weights) "
          "beside the generalist (the `hinton_mnist` teacher, mlp_1200) on mnist5k: test errors "
          "of 1,000, and of the test images of the specialist's group. Written by "
          "`python tests/scripts/hinton_specialists.py`.")
print(write_tables("docs/results/hinton_specialists.md", rows, list(rows[0]), header=header))
