import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

import kerasnets  # noqa: E402


def representatives() -> list[str]:
    """One variant per family: the one with the fewest parameters (cheapest to run)."""
    best: dict[str, str] = {}
    for name in kerasnets.list_models():
        entry = kerasnets.get_entry(name)
        if entry.family not in best or entry.params < kerasnets.get_entry(best[entry.family]).params:
            best[entry.family] = name
    return sorted(best.values())


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session(free_memory=True)
