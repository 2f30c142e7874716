"""The distillation experiments, built on the mechanisms of `kerasnets.distillation`: the seeds of
`tools.distill` (`experiment`, its `setup` and `results`, and the tool's `job`), Hinton, Vinyals &
Dean's MNIST experiments on real digits (`hinton`) and one specialist (`specialists`).
"""
