"""Input checks shared by the front-end modules.

Checks run in eager mode only: while torch traces or exports a graph, the shapes are symbolic
and the checks would become graph guards, so they are skipped there.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from audiofront.errors import InputError

__all__ = ["is_tracing", "check_waveform", "check_features", "to_compute_dtype"]


def is_tracing() -> bool:
    """True while torch exports, traces or compiles (shapes may be symbolic)."""
    return bool(
        torch.jit.is_tracing()
        or torch.onnx.is_in_onnx_export()
        or torch.compiler.is_compiling()
        or getattr(torch.compiler, "is_exporting", lambda: False)()
    )


def check_waveform(x, min_length: int, *, name: str = "waveform") -> None:
    """Raise :class:`InputError` unless ``x`` is a float tensor ``(..., time)`` with ``time >= min_length``."""
    if is_tracing():
        return
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor of shape (..., time), got {type(x).__name__}")
    if not x.is_floating_point():
        raise InputError(f"{name} must be a floating-point tensor (float32 audio in [-1, 1]), got dtype {x.dtype}")
    if x.ndim < 1:
        raise InputError(f"{name} must have shape (..., time), got a 0-d tensor")
    if x.shape[-1] < min_length:
        raise InputError(
            f"{name} has {x.shape[-1]} samples; this module needs at least {min_length} "
            f"(shape {tuple(x.shape)}, time is the last dim)"
        )


def check_features(x, *, min_ndim: int = 2, name: str = "specgram", n_freq: int | None = None) -> None:
    """Raise :class:`InputError` unless ``x`` is a float tensor ``(..., freq, frames)``."""
    if is_tracing():
        return
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor of shape (..., freq, frames), got {type(x).__name__}")
    if not x.is_floating_point():
        raise InputError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim < min_ndim:
        raise InputError(f"{name} must have at least {min_ndim} dims (..., freq, frames), got shape {tuple(x.shape)}")
    if n_freq is not None and x.shape[-2] != n_freq:
        raise InputError(f"{name} has {x.shape[-2]} frequency bins (dim -2); this module expects {n_freq}")


def to_compute_dtype(x: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """``x`` in the dtype of ``module``'s first floating weight (float32 unless the module was cast).

    So float64 audio (numpy's default) or float16 features work with a float32 module instead of
    failing inside a convolution; a graph traced with float32 input gets no Cast.
    """
    for weight in itertools.chain(module.parameters(), module.buffers()):
        if weight.is_floating_point():
            return x if x.dtype == weight.dtype else x.to(weight.dtype)
    return x
