"""Measurement instruments: the one interleaved timing loop with the machine's matmul peaks and
MFU (`benchmark`), precision and XLA chosen for the machine by measuring them (`precision`) and
a classifier's errors on a validation set (`run_report`).

They sit below training (which asks `precision` for `"auto"`); serving latency, which needs
the exports, is `kerasnets.deployment.serving`, and the comparisons that use the training loop
are `kerasnets.experiments`.
"""
