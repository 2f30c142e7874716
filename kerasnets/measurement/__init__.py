"""Measurement instruments: the one interleaved timing loop with the machine's matmul peaks and
MFU (`benchmark`), precision and XLA chosen for the machine by measuring them (`precision`),
serving latency of a model against its exports (`serving`) and a classifier's errors on a
validation set (`run_report`).

They sit below training (which asks `precision` for `"auto"`); the comparisons that use them
with the training loop are `kerasnets.experiments`.
"""
