"""Experiments: the questions the lectures ask, answered by running the mechanisms
(`kerasnets.training`, `transfer`, `net2net`, `distillation`) and the instruments
(`kerasnets.measurement`), as library functions with plain arguments that the tools call.

- `transfer`, `transfer_report`: fine-tuning with its baselines, and Yosinski et al.'s
  transferability experiment;
- `net2net`: growing a network with Net2Net while it trains (Chen et al. 2015, section 3);
- `distillation`: the teacher-student runs of `tools.distill` and Hinton et al.'s MNIST ones;
- `benchmark_tables`, `default_paths`: the benchmark's comparisons against keras.applications.
"""
