"""kerasnets: every classic image-classification CNN as a faithful Keras 3 functional model.

>>> import kerasnets
>>> model = kerasnets.create_model("resnet18", classes=10, input_shape=(64, 64, 3))
>>> kerasnets.list_models("vgg1*")[:2]
['vgg11', 'vgg11_lrn']
"""

__version__ = "0.1.0"

from kerasnets.registry import ModelEntry, Paper, create_model, get_entry, list_models, model_info

__all__ = ["ModelEntry", "Paper", "create_model", "get_entry", "list_models", "model_info",
           "__version__"]
