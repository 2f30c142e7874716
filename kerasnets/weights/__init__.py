"""Weights for kerasnets models: the public API.

    from kerasnets.weights import (checkpoints, default_checkpoint, load_torch_state_dict,
                                   read_checkpoint, variant_for)

- `records`: one `Checkpoint` record per published file (Keras, torchvision, timm, packaged),
  with its evaluation `Transform`; `checkpoints(variant)` lists a variant's records,
  `default_checkpoint(variant)` is the one `weights="imagenet"` loads, `select_checkpoint(variant,
  "racm_in1k")` picks one by source or tag.
- `keras_files`: Keras-format files (`.weights.h5`, `.keras`, keras.applications' legacy `.h5`)
  and keras.applications' published ImageNet files (`imagenet_weights`).
- `checkpoint`: `read_checkpoint(path)`, PyTorch `.pth`/`.pt`/`.bin` (zip and legacy formats)
  and `.safetensors` read into numpy arrays without torch, unpickling through an allow-list.
- `convert`: `load_torch_state_dict(model, state_dict, source=...)`, the per-family mapping of
  torchvision / timm state dicts onto kerasnets layers, verified tensor by tensor.
- `pretrained`: `variant_for(source, name)`, `load_torch_checkpoint(model, path, variant=...)`
  and the download -> verify -> convert -> cache path behind `weights="imagenet"`.
- `checkpoint_limits`: the size bounds checked before the reader allocates anything.
- `conversion` / `parity`: a user's checkpoint to a Keras file, compared with the torch model.
- `bundle`: offline weights bundles (`KERASNETS_WEIGHTS_DIR`, `weights.lock.json`).
"""

from kerasnets.weights.checkpoint import (CheckpointError, UnsafeCheckpointError, read_checkpoint,
                                          read_training_checkpoint)
from kerasnets.weights.convert import TorchMapping, load_torch_state_dict, unwrap_state_dict
from kerasnets.weights.keras_files import (PUBLISHED, WeightsMismatchError,
                                           WeightsUnavailableError, imagenet_weights,
                                           load_weights, sha256sum)
from kerasnets.weights.pretrained import (load_torch_checkpoint, pretrained_sources,
                                          torch_mapping, variant_for)
from kerasnets.weights.records import (Checkpoint, Published, Transform, checkpoints,
                                       default_checkpoint)
from kerasnets.weights.records import select as select_checkpoint

__all__ = [
    "Checkpoint", "CheckpointError", "PUBLISHED", "Published", "TorchMapping", "Transform",
    "UnsafeCheckpointError", "WeightsMismatchError", "WeightsUnavailableError", "checkpoints",
    "default_checkpoint", "imagenet_weights", "load_torch_checkpoint", "load_torch_state_dict",
    "load_weights", "pretrained_sources", "read_checkpoint", "read_training_checkpoint",
    "select_checkpoint", "sha256sum", "torch_mapping", "unwrap_state_dict", "variant_for",
]
