"""Deployment: what a trained model carries (`model_card`, inside its `.keras` file), its export
for serving, verified after reload (`export`, a package: formats, graph, writers, runtimes,
checks), int8 bias correction (`quantization`), serving latency against the exports (`serving`) and
the job of `tools.export` (`export_job`).
"""
