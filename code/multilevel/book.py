"""Helpers for the book's notebooks: glue many computed values in one call."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["glue_values"]


def _plain(value: object) -> object:
    """numpy scalars as Python numbers: MyST-NB formats ``float`` but not ``np.float64``."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def glue_values(values: Mapping[str, object]) -> dict[str, object]:
    """Glue every ``name: value`` of ``values`` for ``{glue:text}`` in the text, without display.

    Returns the values as glued (numpy scalars converted to Python numbers), so a
    hidden cell can assert a sentence's claim right after gluing its numbers.

    Examples
    --------
    >>> glue_values({"n_states": np.int64(48), "share": np.float64(0.25)})
    {'n_states': 48, 'share': 0.25}
    """
    from myst_nb import glue

    plain = {name: _plain(value) for name, value in values.items()}
    for name, value in plain.items():
        glue(name, value, display=False)
    return plain
