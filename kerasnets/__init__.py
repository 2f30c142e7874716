"""kerasnets: every classic image-classification CNN as a faithful Keras 3 functional model.

>>> import kerasnets
>>> model = kerasnets.create_model("resnet18", classes=10, input_shape=(64, 64, 3))
>>> kerasnets.list_models("vgg1*")[:2]
['vgg11', 'vgg11_lrn']
"""

__version__ = "0.1.0"

from kerasnets.registry import ModelEntry, Paper, create_model, get_entry, list_models, model_info
from kerasnets.imagenet import decode_predictions
from kerasnets.preprocessing import preprocess_input



def load_model(path, *, compile: bool = True):
    """`keras.saving.load_model` with kerasnets' custom layers registered first (a `.keras` file
    of a kerasnets model names layers such as `kerasnets>TrainableSubsampling`). They all live in
    `kerasnets.layers`, so no model family is imported. A missing file is an error that names
    it."""
    import os

    import keras

    from kerasnets import layers  # noqa: F401  (registers the custom layers)
    from kerasnets.utils import deep_graphs

    if not os.path.exists(path):
        raise FileNotFoundError(f"No saved model at {os.fspath(path)!r}.")
    with deep_graphs():  # rebuilding the graph walks it recursively, like building it
        return keras.saving.load_model(path, compile=compile)


__all__ = ["ModelEntry", "Paper", "create_model", "decode_predictions", "get_entry",
           "list_models", "load_model", "model_info", "preprocess_input", "__version__"]
