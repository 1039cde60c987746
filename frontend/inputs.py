"""Input checks and input specs shared by the front-end modules.

Checks run in eager mode only: while torch traces or exports a graph, the shapes are symbolic
and the checks would become graph guards, so they are skipped there.

An :class:`InputSpec` says what a module takes (NeMo's ``input_types``, reduced to what export
needs): the axes after the batch (and an optional channels) axis, which of them is the dynamic
length, fixed sizes and the fewest entries along the length. A module declares it with an
``input_spec()`` method (one spec, or a tuple of alternatives for different ranks);
:func:`input_spec` finds it for any module or chain.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Mapping

import torch
from torch import nn

from audiofront.errors import ConfigError, InputError

__all__ = ["is_tracing", "check_waveform", "check_features", "to_compute_dtype", "InputSpec", "input_spec",
           "INPUT_VALUES"]

#: What values a spec's inputs hold (export's self-check draws its test inputs from this).
INPUT_VALUES = ("audio", "nonnegative", "real")


@dataclass(frozen=True)
class InputSpec:
    """What a module takes: ``(batch, [channels,] *axes)``.

    ``axes`` are the core axes, last ones of the input: ``("time",)`` for audio,
    ``("bins", "frames")`` for features, ``("bins", "frames", "complex")`` for a complex spectrogram
    as ``[real, imag]`` pairs. The dynamic length is ``"time"`` where present, else ``"frames"``;
    ``min_length`` is the fewest entries it may have. ``sizes`` fixes other axes (``{"bins": 257,
    "complex": 2}``); a core axis without a size takes any. ``values``: ``"audio"`` (float audio in
    [-1, 1]), ``"nonnegative"`` (power/magnitude) or ``"real"`` (any float). ``channels=False``
    means no channels axis may precede the core axes.

    Example::

        >>> spec = InputSpec(("bins", "frames"), sizes={"bins": 201}, values="nonnegative")
        >>> spec.length_axis, spec.layout(channels=True)
        ('frames', ('batch', 'channels', 'bins', 'frames'))
    """

    axes: tuple[str, ...]
    min_length: int = 1
    sizes: Mapping[str, int] = field(default_factory=dict)
    values: str = "real"
    channels: bool = True

    def __post_init__(self):
        axes = tuple(self.axes)
        object.__setattr__(self, "axes", axes)
        object.__setattr__(self, "sizes", dict(self.sizes))
        if not axes or not ({"time", "frames"} & set(axes)):
            raise ConfigError(f"InputSpec axes must name a length axis 'time' or 'frames', got {axes!r}")
        if isinstance(self.min_length, bool) or not isinstance(self.min_length, int) or self.min_length < 1:
            raise ConfigError(f"InputSpec min_length must be a positive integer, got {self.min_length!r}")
        if self.values not in INPUT_VALUES:
            raise ConfigError(f"InputSpec values must be one of {INPUT_VALUES}, got {self.values!r}")

    @property
    def length_axis(self) -> str:
        return "time" if "time" in self.axes else "frames"

    def rank(self, channels: bool) -> int:
        return 1 + int(channels) + len(self.axes)

    def layout(self, channels: bool) -> tuple[str, ...]:
        """All axes of an input with (or without) a channels axis before the core ones."""
        return ("batch",) + (("channels",) if channels else ()) + self.axes

    def describe(self) -> str:
        sizes = [str(self.sizes[a]) if a in self.sizes else a for a in self.axes]
        where = "channels, " if self.channels and "channels" not in self.axes else ""
        return f"(batch, {'[' + where.rstrip(', ') + '], ' if where else ''}{', '.join(sizes)}), {self.length_axis} >= {self.min_length}"


def _own_specs(module: nn.Module) -> tuple[InputSpec, ...] | None:
    method = getattr(module, "input_spec", None)
    if callable(method):
        specs = method()
        specs = specs if isinstance(specs, tuple) else (specs,)
        if not specs or not all(isinstance(s, InputSpec) for s in specs):
            raise ConfigError(f"{type(module).__name__}.input_spec() must return an InputSpec or a tuple of them")
        return specs
    if isinstance(module, nn.Sequential):
        return _own_specs(module[0]) if len(module) else None
    # A module holding an STFT as its first stage takes audio (MelSpectrogram, MFCC, ...).
    first = next(iter(module.children()), None)
    if first is not None:
        return _own_specs(first)
    return None


def input_spec(module: nn.Module, rank: int | None = None) -> tuple[InputSpec, bool] | None:
    """``(spec, channels)``: what ``module`` takes, for an input of ``rank`` dims (``None``: the first spec).

    Looks for the module's own ``input_spec()``, then the first stage of a chain (``nn.Sequential``
    or a module whose first child declares one). ``None`` when nothing declares a spec. Raises
    :class:`InputError` when no spec fits ``rank``.

    Example::

        >>> from audiofront.frontend import MelSpectrogram
        >>> spec, channels = input_spec(MelSpectrogram(n_fft=400), rank=3)
        >>> spec.axes, spec.min_length, channels
        (('time',), 201, True)
    """
    specs = _own_specs(module)
    if specs is None:
        return None
    if rank is None:
        return specs[0], False
    for channels in (False, True):
        for spec in specs:
            if (spec.channels or not channels) and spec.rank(channels) == rank:
                return spec, channels
    wanted = " or ".join(s.describe() for s in specs)
    raise InputError(f"{type(module).__name__} takes {wanted}; an input of rank {rank} does not fit")


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
