"""Shared pieces of the front-end tests: the error measure, drawn parameter grids, librosa names.

The grids are drawn from seeded generators, so a failing configuration is reproducible from its
test id; the categorical axes (window, centring, padding) cycle so every value is covered.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "TOLERANCE",
    "WINDOW_KINDS",
    "rel_l2",
    "as_numpy",
    "librosa_window",
    "module_window",
    "draw_stft_configs",
    "config_id",
    "waveform",
]

# The bar the issue sets: relative L2 error against librosa in float64.
TOLERANCE = 1e-4

# "custom" stands for a tensor window of random positive samples.
WINDOW_KINDS = ("hann", "hamming", "blackman", "rectangular", "custom")


def rel_l2(actual, expected) -> float:
    """``||actual - expected|| / ||expected||`` in float64 (complex allowed)."""
    a = as_numpy(actual)
    b = as_numpy(expected)
    assert a.shape == b.shape, f"shape {a.shape} != reference shape {b.shape}"
    err, norm = np.linalg.norm((a - b).ravel()), np.linalg.norm(b.ravel())
    # An all-zero reference: the error itself must vanish (a relative error is undefined).
    return float(err / norm) if norm > 0 else float(err)


def as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach()
        return x.to(torch.complex128).numpy() if x.is_complex() else x.to(torch.float64).numpy()
    x = np.asarray(x)
    return x if np.iscomplexobj(x) else x.astype(np.float64)


def librosa_window(kind: str, win_length: int, seed: int = 0):
    """What librosa takes for ``kind``: a scipy name, or the same custom array the module gets."""
    if kind == "custom":
        return np.random.default_rng(seed).uniform(0.2, 1.0, win_length)
    return "boxcar" if kind == "rectangular" else kind


def module_window(kind: str, win_length: int, seed: int = 0):
    if kind == "custom":
        return torch.from_numpy(librosa_window(kind, win_length, seed))
    return kind


def draw_stft_configs(count: int, seed: int, *, max_n_fft: int = 300) -> list[dict]:
    """``count`` STFT configurations: window, centring and pad mode cycle, sizes are drawn.

    n_fft alternates odd and even; every third configuration has ``win_length < n_fft``.
    """
    rng = np.random.default_rng(seed)
    configs = []
    for i in range(count):
        n_fft = int(rng.integers(8, max_n_fft // 2)) * 2 + (i % 2)
        win_length = int(rng.integers(max(2, n_fft // 3), n_fft)) if i % 3 == 0 else n_fft
        configs.append(
            {
                "n_fft": n_fft,
                "win_length": win_length,
                "hop_length": _draw_hop(rng, i, n_fft, win_length),
                "window": WINDOW_KINDS[i % len(WINDOW_KINDS)],
                "center": (i // 2) % 2 == 0,
                "pad_mode": ("reflect", "constant")[(i // 4) % 2],
                "length": int(rng.integers(n_fft + 1, 3 * n_fft + 400)),
                "seed": int(rng.integers(0, 2**31)),
            }
        )
    return configs


def _draw_hop(rng: np.random.Generator, i: int, n_fft: int, win_length: int) -> int:
    if i % 7 == 6:  # frames that skip samples: hop longer than the window
        return int(rng.integers(win_length, 2 * n_fft))
    if i % 4 == 0:
        return win_length // 4 or 1
    return int(rng.integers(1, max(2, win_length // 2 + 1)))


def config_id(config: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in config.items() if k != "seed")


def waveform(length: int, seed: int, batch: tuple[int, ...] = ()) -> np.ndarray:
    """Float64 noise plus a tone: broadband, so every bin carries energy."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    tone = 0.5 * np.sin(2 * np.pi * rng.uniform(0.01, 0.4) * t)
    return rng.standard_normal(batch + (length,)) * 0.3 + tone
