"""tf.data input pipelines and tf.distribute strategies.

- `pipelines.sources.load(source, split)`: (uint8 image, int64 label) datasets from the built-in
  digits, TFDS, image folders and TFRecords, with a `DatasetInfo`.
- `pipelines.transforms`: the papers' train / eval recipes (alexnet, vgg, inception, cifar,
  none), normalisation per registry entry, MixUp / CutMix / RandAugment, batching.
- `pipelines.evaluation`: centre, 10-crop and multi-scale evaluation protocols.
- `pipelines.data.prepare`: both splits for one model in one call (what the tools use).
- `pipelines.distillation.prepare`: one seed's datasets of the distillation experiment
  (`kerasnets.experiments.distillation.experiment.ExperimentData`).
- `pipelines.strategy`: strategies and mixed precision from names.
"""
