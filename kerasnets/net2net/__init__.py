"""Net2Net: function-preserving widening and deepening of Keras functional models.

Chen, Goodfellow & Shlens, "Net2Net: Accelerating Learning via Knowledge Transfer" (ICLR 2016,
arXiv:1511.05641; seed 003), section 2.

- **Net2WiderNet** (`wider`): a layer of n units becomes one of q > n units; unit j < n keeps its
  weights, unit j >= n copies a randomly chosen unit g(j). Every layer that reads the widened
  units gets their outgoing weights divided by the number of copies, so its output is unchanged.
  The copies are followed through everything between the widened layer and its readers:
  per-channel layers (BatchNormalization: gamma, beta, mean, variance copied per unit; LeNet's
  trainable subsampling; DepthwiseConv2D), element-wise activations, pooling, padding, dropout,
  Flatten (a copied channel's positions in the flattened vector), channel concatenations and
  element-wise merges (Add, Multiply, ...). Both sides of a merge must carry the same copies, so
  the layers on the other side of a residual addition are widened together with the requested
  one (`follow_additions=False` raises instead).
- **Net2DeeperNet** (`deeper`): inserts a layer initialised to the identity (a convolution with a
  centred identity kernel, or a Dense with an identity matrix; then, when the model uses
  BatchNorm, an identity BatchNorm: gamma = sqrt(var + eps), beta = mean) followed by the
  activation that produced its input. That preserves the function only when the activation is
  idempotent, f(f(x)) = f(x) (ReLU, ReLU6, linear), so others (tanh, sigmoid, ...) are refused.

The new model is rebuilt generically: `keras.models.clone_model` walks the functional graph in
topological order, each changed layer is re-created from its `get_config()` with new
`filters`/`units` (the other layers re-infer their shapes), inserted layers are called after the
named one, and the weights are set by layer name. Layer names are kept, so later steps can
address the same layers; inserted layers are named `{after}_deeper{n}_{conv|dense|bn|act}`.
`noise` > 0 adds the paper's small symmetry-breaking noise to the outgoing weights of copied
units (the function is then preserved only approximately).

The package, by concern (every name is re-exported here): `graph` (the functional graph and its
generic rebuild, widths), `widen` (Net2WiderNet), `deepen` (Net2DeeperNet) and `schedule` (the
growth schedule of the experiment, `kerasnets.experiments.net2net`: `parse_schedule`, `Step`,
`apply_step`).
"""

from kerasnets.net2net.deepen import deeper
from kerasnets.net2net.graph import layer_widths, max_output_difference
from kerasnets.net2net.schedule import Step, apply_step, parse_schedule, resolve_width
from kerasnets.net2net.widen import wider

__all__ = ["Step", "apply_step", "deeper", "layer_widths", "max_output_difference",
           "parse_schedule", "resolve_width", "wider"]
