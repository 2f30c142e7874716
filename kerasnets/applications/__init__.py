"""Public builders, one per registered variant, with the keras.applications signature.

Importing this package registers every family in `kerasnets.registry`.
"""

from kerasnets.applications.vgg import (VGG11, VGG11_BN, VGG11_LRN, VGG13, VGG13_BN, VGG16,
                                        VGG16_BN, VGG16C, VGG19, VGG19_BN)

__all__ = [name for name in dir() if not name.startswith("_") and name[0].isupper()]
