"""Transfer learning with registry backbones: a new head on any backbone, freezing by stage, the
warm-up-then-unfreeze schedule, and the copy-and-freeze networks of Yosinski et al.

- `build_classifier("resnet50", classes=5, weights=...)`: the backbone without its top, an
  Identity layer `backbone_out`, then `head_pool` (avg / max / flatten), `head_dropout` and a new
  `predictions` Dense layer. The graph stays flat, so `stage{s}_out` taps remain addressable.
- `freeze(model, upto)`: every layer that feeds `upto` (inclusive) gets `trainable=False`, the
  rest `trainable=True`. `upto` is `"backbone_out"` (the whole backbone), an int `n` (the stem and
  the first `n` stages: `stage{n}_out`) or any layer name. Frozen BatchNorm layers run in
  inference mode (Keras 3's `trainable=False` semantics), so their moving statistics stay put.
- `fine_tune(...)`: schedule 2.A (frozen feature extractor, head trained) or 2.B (warm-up with the
  backbone frozen, then unfreeze everything or from stage `s` on and continue with a much smaller
  learning rate, optionally discriminative: each lower stage's rate times `discriminative`, as
  in Howard & Ruder 2018, arXiv:1801.06146), driven by `kerasnets.training.fit`. With
  `cache_features=True` the frozen part's outputs are computed once and the warm-up trains only
  the layers after the freeze point on them (exact when the input pipeline has no augmentation).
- `copy_weights` / `transferred`: the first `n` stages of a trained network copied into a fresh
  one, frozen or fine-tuned, the rest re-initialised: BnB, BnB+, AnB and AnB+ of Yosinski,
  Clune, Bengio & Lipson, "How transferable are features in deep neural networks?" (NeurIPS
  2014, arXiv:1411.1792), and PnB / PnB+ copying from a pre-trained (ImageNet) network
  (`experiment_jobs`); `python -m tools.transfer` runs the whole experiment.

The package, by concern (every name is re-exported here): `heads` (the new head, stage taps,
freezing, discriminative rates, copied stages), `probes` (features, linear probes, few-shot),
`schedules` (`fine_tune`, BatchNorm recalibration) and `runs` (the experiments' shared rules:
`choose_weights`, `TimeBudget`, `experiment_jobs`).
"""

from kerasnets.transfer.heads import (BACKBONE_OUT, build_classifier, copy_weights,
                                      discriminative_optimizer, freeze, layers_upto, resolve_tap,
                                      stage_groups, stage_taps, tail_model, transferred,
                                      unfreeze)
from kerasnets.transfer.probes import (extract_features, features_dataset, few_shot,
                                       linear_probe, pooled_features, usable_shots)
from kerasnets.transfer.runs import (PRETRAINED_KINDS, YOSINSKI_KINDS, TimeBudget,
                                     choose_weights, experiment_jobs)
from kerasnets.transfer.schedules import FineTuneResult, fine_tune, recalibrate_batchnorm
from kerasnets.utils import save_model  # `.keras` / `.weights.h5`, written atomically

__all__ = [
    "BACKBONE_OUT", "PRETRAINED_KINDS", "YOSINSKI_KINDS", "FineTuneResult", "TimeBudget",
    "build_classifier", "choose_weights", "copy_weights", "discriminative_optimizer",
    "experiment_jobs", "extract_features", "features_dataset", "few_shot", "fine_tune", "freeze",
    "layers_upto", "linear_probe", "pooled_features", "recalibrate_batchnorm", "resolve_tap",
    "save_model", "stage_groups", "stage_taps", "tail_model", "transferred", "unfreeze",
    "usable_shots",
]
