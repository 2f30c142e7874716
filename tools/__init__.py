"""Command-line tools (absl apps): `python -m tools.<name> --help`."""
