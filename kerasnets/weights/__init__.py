"""Weights for kerasnets models.

- `keras_files`: Keras-format files (`.weights.h5`, `.keras`, keras.applications' legacy `.h5`)
  and keras.applications' published ImageNet files (`imagenet_weights`).
- `checkpoint`: `read_checkpoint(path)`, PyTorch `.pth`/`.pt`/`.bin` (zip and legacy formats)
  and `.safetensors` read into numpy arrays without torch, unpickling through an allow-list.
- `convert`: `load_torch_state_dict(model, state_dict, source=...)`, the per-family mapping of
  torchvision / timm state dicts onto kerasnets layers, verified tensor by tensor.
- `pretrained`: which published checkpoint each variant has, `variant_for`, and the
  download -> verify -> convert -> cache path behind `weights="imagenet"`.
- `checkpoint_limits`: the size bounds checked before the reader allocates anything.
- `conversion` / `parity`: a user's checkpoint to a Keras file, compared with the torch model.
- `bundle`: offline weights bundles (`KERASNETS_WEIGHTS_DIR`, `weights.lock.json`).
"""

from kerasnets.weights.checkpoint import (CheckpointError, UnsafeCheckpointError,  # noqa: F401
                                          read_checkpoint)
from kerasnets.weights.keras_files import (PUBLISHED, Published, WeightsMismatchError,  # noqa: F401
                                           WeightsUnavailableError, imagenet_weights,
                                           load_weights, sha256sum)
