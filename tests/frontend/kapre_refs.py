"""Reading the outputs of the real Kapre 0.4.1 that scripts/kapre_reference.py wrote.

Each file in tests/frontend/kapre_reference/ holds seeded inputs, Kapre's outputs and a JSON
``meta`` with the versions and the settings of every entry; the tests build audiofront's module
from those very settings (Kapre's argument names), run it and compare.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

__all__ = ["REF_DIR", "TOL", "load", "settings", "kapre_kwargs", "rel_l2", "wrapped_rel_l2"]

REF_DIR = Path(__file__).parent / "kapre_reference"
# The bar: relative L2 error against Kapre's float32 outputs.
TOL = 1e-5
_DESCRIPTIVE = {"layer", "function", "input", "weights", "sample_rate_of_input"}


@functools.lru_cache(maxsize=None)
def load(name: str) -> tuple[dict, dict]:
    """``(arrays, meta)`` of ``kapre_reference/<name>.npz``."""
    with np.load(REF_DIR / f"{name}.npz") as f:
        # Inputs are stored as float16 values that are exactly the float32 numbers Kapre was given.
        arrays = {k: f[k].astype(np.float32) if f[k].dtype == np.float16 else f[k] for k in f.files if k != "meta"}
        meta = json.loads(str(f["meta"]))
    return arrays, meta


def settings(meta: dict, key: str) -> dict:
    return dict(meta["entries"][key])


def kapre_kwargs(meta: dict, key: str, drop: tuple[str, ...] = ()) -> dict:
    """The Kapre arguments an entry was made with (descriptive fields and ``drop`` removed)."""
    return {k: v for k, v in settings(meta, key).items() if k not in _DESCRIPTIVE and k not in drop}


def rel_l2(actual, expected) -> float:
    a = np.asarray(actual.detach() if hasattr(actual, "detach") else actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != Kapre's {b.shape}"
    norm = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / norm) if norm > 0 else float(np.linalg.norm(a - b))


def wrapped_rel_l2(actual, expected, weight) -> float:
    """Phase error modulo 2 pi over the bins where ``weight`` (a magnitude) is not negligible.

    Where a bin's magnitude is ~1e-7 of the peak its phase is rounding noise in both implementations.
    """
    a = np.asarray(actual.detach() if hasattr(actual, "detach") else actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != Kapre's {b.shape}"
    keep = np.asarray(weight) > 1e-4 * np.max(weight)
    diff = np.angle(np.exp(1j * (a - b)))[keep]
    return float(np.linalg.norm(diff) / np.linalg.norm(b[keep]))
