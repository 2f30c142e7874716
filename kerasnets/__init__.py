"""kerasnets: every classic image-classification CNN as a faithful Keras 3 functional model.

>>> import kerasnets
>>> model = kerasnets.create_model("resnet18", classes=10, input_shape=(64, 64, 3))
>>> kerasnets.list_models("vgg1*")[:2]
['vgg11', 'vgg11_lrn']
"""

__version__ = "0.1.0"

from kerasnets.zoo import registry
from kerasnets.zoo.registry import ModelEntry, Paper, create_model, get_entry
from kerasnets.utils import load_model
from kerasnets.zoo.info import list_models, model_info
from kerasnets.zoo.imagenet import decode_predictions
from kerasnets.zoo.preprocessing import preprocess_input


def _register_families() -> None:
    from kerasnets import applications  # noqa: F401  (each family file registers itself)


registry.set_loader(_register_families)


__all__ = ["ModelEntry", "Paper", "create_model", "decode_predictions", "get_entry",
           "list_models", "load_model", "model_info", "preprocess_input", "__version__"]
