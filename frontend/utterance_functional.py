"""Utterance-level steps of shipped front-ends as pure functions: clamps, normalisation, stacking, fixed lengths.

Every function works on one item at a time (statistics over the item's own axes), so no item
depends on its batch, and uses ops that export with a dynamic length (Concat + Slice for
padding instead of data-dependent Pad amounts, Gather for repetition).

References: openai-whisper ``audio.py`` (``log_mel_spectrogram``, ``pad_or_trim``);
transformers ``Speech2TextFeatureExtractor.utterance_cmvn``, ``SeamlessM4TFeatureExtractor``
(per-mel-bin normalisation, stride stacking), ``Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm``,
``ClapFeatureExtractor`` (``repeatpad``).
"""

from __future__ import annotations

import math

import torch

from audiofront.errors import ConfigError

__all__ = [
    "dynamic_range_clamp",
    "utterance_cmvn",
    "stack_frames",
    "pad_or_trim",
    "repeat_pad",
    "zero_mean_unit_var",
]


def _number(name: str, value, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if positive and not value > 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")
    return float(value)


def _count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


def dynamic_range_clamp(x: torch.Tensor, dynamic_range: float = 8.0) -> torch.Tensor:
    """``max(x, peak - dynamic_range)`` with each item's peak over its last two dims (Whisper: 8, i.e. 80 dB in log10).

    ``(..., bins, frames)`` in and out.
    """
    r = _number("dynamic_range", dynamic_range)
    if r < 0:
        raise ConfigError(f"dynamic_range must be >= 0, got {dynamic_range!r}")
    peak = x.amax(dim=(-2, -1), keepdim=True)
    return torch.maximum(x, peak - r)


def utterance_cmvn(x: torch.Tensor, *, dim: int = -1, norm_means: bool = True, norm_vars: bool = True,
                   ddof: int = 0, eps: float = 1e-10, eps_mode: str = "floor") -> torch.Tensor:
    """Per-utterance mean and variance normalisation along ``dim`` (the frames): any shape in and out.

    ``(x - mean) / sqrt(var')`` with ``var`` over ``dim`` (``ddof`` 0: population, 1: sample) and
    ``var' = max(var, eps)`` (``eps_mode="floor"``, Speech2Text: 1e-10, ddof 0) or ``var + eps``
    (``"add"``, SeamlessM4T: 1e-7, ddof 1; Wav2Vec2: 1e-7, ddof 0).
    """
    if ddof not in (0, 1) or isinstance(ddof, bool):
        raise ConfigError(f"ddof must be 0 or 1, got {ddof!r}")
    eps = _number("eps", eps)
    if eps < 0:
        raise ConfigError(f"eps must be >= 0, got {eps!r}")
    if eps_mode not in ("floor", "add"):
        raise ConfigError(f"eps_mode must be 'floor' or 'add', got {eps_mode!r}")
    mean = x.mean(dim=dim, keepdim=True)
    centred = x - mean
    out = centred if norm_means else x
    if norm_vars:
        n = x.shape[dim]
        var = (centred * centred).sum(dim=dim, keepdim=True) / (n - ddof)
        var = torch.clamp(var, min=eps) if eps_mode == "floor" else var + eps
        out = out / torch.sqrt(var)
    return out


def stack_frames(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Stack each ``stride`` consecutive frames into one: ``(..., bins, frames) -> (..., bins * stride, ceil(frames / stride))``.

    Frames are zero-padded at the end to a multiple of ``stride`` first (SeamlessM4T pads to a
    multiple of its stride, then reshapes ``(frames, bins) -> (frames / stride, bins * stride)``);
    output bin ``s * bins + b`` is bin ``b`` of frame ``s`` in the group.
    """
    stride = _count("stride", stride)
    if stride == 1:
        return x
    bins, frames = x.shape[-2], x.shape[-1]
    groups = (frames + stride - 1) // stride
    padded = torch.cat([x, x.new_zeros(x.shape[:-1] + (stride - 1,))], dim=-1)[..., : groups * stride]
    t = padded.transpose(-1, -2).reshape(x.shape[:-2] + (groups, stride * bins))
    return t.transpose(-1, -2)


def pad_or_trim(x: torch.Tensor, length: int, *, dim: int = -1, value: float = 0.0) -> torch.Tensor:
    """Pad with ``value`` at the end, or cut, to exactly ``length`` along ``dim`` (Whisper's ``pad_or_trim``).

    As Concat then Slice, so the graph has no pad amount that depends on the input's length.
    """
    length = _count("length", length)
    value = _number("value", value)
    dim = dim % x.ndim
    fill_shape = x.shape[:dim] + (length,) + x.shape[dim + 1:]
    filled = torch.cat([x, torch.full(fill_shape, value, dtype=x.dtype, device=x.device)], dim=dim)
    return filled.narrow(dim, 0, length)


def repeat_pad(x: torch.Tensor, length: int) -> torch.Tensor:
    """CLAP's ``repeatpad``: ``(..., time) -> (..., length)``.

    An item of ``n <= length`` samples is repeated ``length // n`` whole times, then zero-padded;
    a longer one is cut to its first ``length`` samples (CLAP's ``rand_trunc`` cuts at a random
    offset; a deterministic graph takes offset 0). ``length`` must be below 2**24.
    """
    if isinstance(length, int) and length >= 1 << 24:
        raise ConfigError(f"length must be < 2**24 = {1 << 24} samples, got {length}")
    length = _count("length", length)
    x = x[..., :length]
    index = torch.arange(length, device=x.device)
    # The item length as a tensor, not a Python/sym int: ONNX export cannot take a symbolic
    # scalar in Mod/Div. A float sum of ones is exact up to 2**24 samples (length is capped).
    n = torch.ones_like(x.reshape(-1, x.shape[-1])[:1]).sum(-1).to(torch.int64)
    source = torch.remainder(index, n)
    repeats = torch.div(torch.full_like(n, length), n, rounding_mode="floor")
    keep = index < repeats * n
    return torch.where(keep, x[..., source], torch.zeros((), dtype=x.dtype, device=x.device))


def zero_mean_unit_var(waveform: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """``(x - mean) / sqrt(var + eps)`` over each item's samples (Wav2Vec2's ``zero_mean_unit_var_norm``): ``(..., time)``."""
    return utterance_cmvn(waveform, dim=-1, ddof=0, eps=eps, eps_mode="add")
