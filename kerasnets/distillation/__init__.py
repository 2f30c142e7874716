"""Teacher-student training built on `keras.distillation` (Keras >= 3.12): Hinton, Vinyals & Dean,
"Distilling the Knowledge in a Neural Network" (arXiv:1503.02531; the seed's "Dark Knowledge"
lecture) and, for hints, Romero et al., "FitNets: Hints for Thin Deep Nets" (arXiv:1412.6550).

One module per job; every name is re-exported here:

- `losses`: the T^2-scaled soft-target loss (`soft_target_loss`, `KnowledgeDistillation`) and
  the `Distiller` (`distiller`) with cached teacher logits and per-replica loss scaling;
- `teachers`: `logits_model`, `ensemble_teacher`, `pretrained_teacher`, FitNets hints
  (`hint_regressor`, `hint_models`, `hint_distiller`);
- `transfer_data`: the teacher's logits computed once (`compute_teacher_logits`), the transfer
  set (`transfer_set`) and the "never saw a 3" bias shift (`best_bias_shift`, `shift_class_bias`);
- `experiment`: the experiment of `tools.distill` (teachers, student alone / distilled, the
  comparison table) on datasets the caller passes;
- `hinton`: Hinton et al.'s MNIST experiments on real digits (`tools.distill --experiment
  hinton_mnist`: student alone, teacher, distilled; no 3s; only 7s and 8s; label-free bias
  shifts) on arrays the caller passes;
- `specialists`: one specialist with a dustbin class beside the generalist (Hinton et al.
  sec. 5) on the same arrays;
- `timing`: the KD step benchmark (`measure_step_times`, `step_benchmark`).

Hinton et al.'s MNIST nets are registry models (`kerasnets.applications.mlp`: `mlp_1200`,
`mlp_800`); `hinton_mlp`, `build_mlp` and `MLPS` are re-exported from there.
"""

from kerasnets.applications.mlp import MLPS, build_mlp, hinton_mlp
from kerasnets.distillation.losses import (IMAGES, OBJECTIVES, TEACHER_LOGITS, Distiller,
                                           KnowledgeDistillation, distiller, soft_target_loss)
from kerasnets.distillation.teachers import (ensemble_teacher, hint_distiller, hint_models,
                                             hint_regressor, logits_model, pretrained_teacher)
from kerasnets.distillation.timing import measure_step_times, step_benchmark
from kerasnets.distillation.transfer_data import (best_bias_shift, compute_teacher_logits,
                                                  shift_class_bias, transfer_set)
from kerasnets.layers.ensemble import ENSEMBLE_MODES, EnsembleLogits

__all__ = [
    "IMAGES", "TEACHER_LOGITS", "OBJECTIVES", "soft_target_loss", "KnowledgeDistillation",
    "Distiller", "distiller", "logits_model", "ensemble_teacher", "pretrained_teacher",
    "hint_regressor", "hint_models", "hint_distiller", "compute_teacher_logits", "transfer_set",
    "shift_class_bias", "best_bias_shift", "hinton_mlp", "MLPS", "build_mlp",
    "measure_step_times", "step_benchmark", "ENSEMBLE_MODES", "EnsembleLogits",
]
