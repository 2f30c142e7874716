"""tf.data input pipelines (sources, paper recipes, distribution strategies).

Planned in the pipelines issue (#5); nothing is exported yet.
"""
