"""Amplitude scaling and normalisation: ``AmplitudeToDB``, ``Normalize``, ``FrozenNormalize``."""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch import nn

from audiofront.errors import ConfigError, InputError
from audiofront.frontend.framewise import FrameSpec, pointwise
from audiofront.frontend.functional import amplitude_to_db
from audiofront.frontend.inputs import InputSpec, check_features, is_tracing

__all__ = ["AmplitudeToDB", "Normalize", "FrozenNormalize", "NORMALIZE_MODES"]


class AmplitudeToDB(nn.Module):
    """Power or magnitude to decibels: ``(..., freq, frames) -> (..., freq, frames)``.

    ``10 * log10(max(x, amin))`` for ``stype="power"`` (20 for ``"magnitude"``), relative to
    ``ref_value``; equal to ``librosa.power_to_db(x, ref=ref_value, amin=amin, top_db=top_db)``
    applied to each item. ``top_db`` clips ``top_db`` dB below each item's own peak, taken over its
    last two dims (per example and channel), never over the batch; ``top_db_scope="example"``
    takes it jointly over ``(channels, freq, frames)`` (input ``(batch, channels, freq, frames)``),
    as Kapre's ``MagnitudeToDecibel`` does. Defaults follow torchaudio.

    Example::

        >>> AmplitudeToDB(top_db=80.0)(torch.rand(2, 128, 50)).shape
        torch.Size([2, 128, 50])
    """

    def __init__(self, stype: str = "power", top_db: float | None = None, *, amin: float = 1e-10, ref_value: float = 1.0,
                 top_db_scope: str = "channel"):
        super().__init__()
        if top_db_scope not in ("channel", "example"):
            raise ConfigError(f"top_db_scope must be 'channel' or 'example', got {top_db_scope!r}")
        self.top_db_scope = top_db_scope
        self._peak_dims = (-2, -1) if top_db_scope == "channel" else (-3, -2, -1)
        if stype not in ("power", "magnitude"):
            raise ConfigError(f"stype must be 'power' or 'magnitude', got {stype!r}")
        if top_db is not None and not (isinstance(top_db, (int, float)) and top_db >= 0 and math.isfinite(top_db)):
            raise ConfigError(f"top_db must be None or a non-negative number, got {top_db!r}")
        if not (isinstance(amin, (int, float)) and amin > 0):
            raise ConfigError(f"amin must be a positive number, got {amin!r}")
        if not (isinstance(ref_value, (int, float)) and ref_value > 0):
            raise ConfigError(f"ref_value must be a positive number, got {ref_value!r}")
        self.stype = stype
        self.top_db = None if top_db is None else float(top_db)
        self.amin = float(amin)
        self.ref_value = float(ref_value)
        self.multiplier = 10.0 if stype == "power" else 20.0
        self.db_multiplier = math.log10(max(self.amin, self.ref_value))

    def extra_repr(self) -> str:
        return f"stype={self.stype!r}, top_db={self.top_db}"

    def input_spec(self) -> InputSpec:
        return InputSpec(("bins", "frames"), values="nonnegative")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_features(x, min_ndim=len(self._peak_dims))
        return amplitude_to_db(x, self.multiplier, self.amin, self.db_multiplier, self.top_db, self._peak_dims)

    def frame_specs(self) -> list[FrameSpec]:
        """One frame-wise step without ``top_db``; with it, refused: the clip level is the whole item's peak."""
        if self.top_db is not None:
            raise ConfigError(
                f"AmplitudeToDB(top_db={self.top_db:g}) cannot be streamed: it clips {self.top_db:g} dB below the "
                "peak of the whole item, which is unknown until the stream ends. Use top_db=None for streaming"
            )
        return [pointwise(self.forward, "amplitude_to_db")]


NORMALIZE_MODES = ("frequency", "time", "channel", "example")
_MODE_DIMS = {"frequency": (-1,), "time": (-2,), "channel": (-2, -1), "example": (-3, -2, -1)}


class Normalize(nn.Module):
    """Zero mean, unit variance per item, over the dims ``mode`` names: ``(..., freq, frames)`` in and out.

    - ``"frequency"``: each frequency bin over its frames (per-bin normalisation);
    - ``"time"``: each frame over its frequency bins;
    - ``"channel"``: each channel's whole ``(freq, frames)`` map;
    - ``"example"``: each example over channels, freq and frames (input ``(batch, channels, freq, frames)``).

    Statistics come from the item itself, so no item depends on its batch. ``std`` is the
    population standard deviation; ``eps`` keeps silent inputs finite.

    Example::

        >>> Normalize("frequency")(torch.randn(2, 1, 64, 100)).shape
        torch.Size([2, 1, 64, 100])
    """

    def __init__(self, mode: str = "frequency", eps: float = 1e-6):
        super().__init__()
        if mode not in NORMALIZE_MODES:
            raise ConfigError(f"mode must be one of {NORMALIZE_MODES}, got {mode!r}")
        if not (isinstance(eps, (int, float)) and eps > 0):
            raise ConfigError(f"eps must be a positive number, got {eps!r}")
        self.mode = mode
        self.eps = float(eps)
        self.dims = _MODE_DIMS[mode]

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, eps={self.eps}"

    def input_spec(self) -> tuple[InputSpec, ...]:
        """Features ``(batch, [channels,] bins, frames)``; with ``"frequency"`` also audio ``(batch, time)``
        (each item to zero mean and unit variance over its samples, as wav2vec 2.0's extractor does)."""
        if self.mode == "example":
            return (InputSpec(("channels", "bins", "frames"), values="real", channels=False),)
        features = InputSpec(("bins", "frames"), values="real")
        if self.mode == "frequency":
            return features, InputSpec(("time",), values="audio", channels=False)
        return (features,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_features(x, min_ndim=3 if self.mode == "example" else 2)
        mean = x.mean(dim=self.dims, keepdim=True)
        centred = x - mean
        var = (centred * centred).mean(dim=self.dims, keepdim=True)
        return centred / torch.sqrt(var + self.eps)

    def frame_specs(self) -> list[FrameSpec]:
        """``"time"`` normalises each frame on its own and streams; the other modes need the whole item."""
        if self.mode == "time":
            return [pointwise(self.forward, "normalize_time")]
        raise ConfigError(
            f"Normalize(mode={self.mode!r}) cannot be streamed: its mean and variance are taken over all frames "
            "of the item, which are unknown until the stream ends. Use FrozenNormalize (dataset statistics) "
            "or Normalize('time') for streaming"
        )


class FrozenNormalize(nn.Module):
    """Normalise with fixed dataset statistics: ``(x - mean) / std`` per frequency bin (or globally).

    ``mean`` and ``std`` are buffers of shape ``(n_freq,)`` (per bin) or ``()`` (global); they
    export as constants. Fit them once with :meth:`fit` over a dataset's features.

    Example::

        >>> feats = [torch.randn(1, 64, 100) * 3 + 1 for _ in range(4)]
        >>> norm = FrozenNormalize.fit(feats, per="frequency")
        >>> norm(feats[0]).shape
        torch.Size([1, 64, 100])
    """

    def __init__(self, mean, std, *, eps: float = 1e-6):
        super().__init__()
        mean = torch.as_tensor(mean, dtype=torch.float64)
        std = torch.as_tensor(std, dtype=torch.float64)
        if mean.shape != std.shape or mean.ndim > 1:
            raise ConfigError(f"mean and std must both be scalars or both (n_freq,), got {tuple(mean.shape)} and {tuple(std.shape)}")
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all()) or (std < 0).any():
            raise ConfigError("mean must be finite and std finite and non-negative")
        self.register_buffer("mean", mean.float())
        self.register_buffer("scale", (1.0 / torch.clamp(std, min=eps)).float())

    @classmethod
    def fit(cls, features: Iterable[torch.Tensor] | torch.Tensor, *, per: str = "frequency", eps: float = 1e-6) -> "FrozenNormalize":
        """Statistics of ``features`` (a tensor or an iterable of tensors ``(..., n_freq, frames)``), in float64."""
        if per not in ("frequency", "global"):
            raise ConfigError(f"per must be 'frequency' or 'global', got {per!r}")
        if isinstance(features, torch.Tensor):
            features = [features]
        total = total_sq = None
        count = 0
        for i, feat in enumerate(features):
            check_features(feat, name=f"features[{i}]")
            f = feat.detach().to(torch.float64).transpose(-2, -1).reshape(-1, feat.shape[-2])
            if total is not None and f.shape[1] != total.shape[0]:
                raise InputError(f"features[{i}] has {f.shape[1]} frequency bins, earlier ones {total.shape[0]}")
            s, s2 = f.sum(0), (f * f).sum(0)
            total = s if total is None else total + s
            total_sq = s2 if total_sq is None else total_sq + s2
            count += f.shape[0]
        if total is None or count == 0:
            raise InputError("features is empty: fit needs at least one frame")
        if per == "global":
            total, total_sq, count = total.sum(), total_sq.sum(), count * total.shape[0]
        mean = total / count
        std = torch.sqrt(torch.clamp(total_sq / count - mean * mean, min=0.0))
        return cls(mean, std, eps=eps)

    def input_spec(self) -> InputSpec:
        sizes = {} if self.mean.ndim == 0 else {"bins": int(self.mean.shape[0])}
        return InputSpec(("bins", "frames"), sizes=sizes, values="real")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean.ndim == 0:
            check_features(x)
            return (x - self.mean) * self.scale
        check_features(x, n_freq=self.mean.shape[0])
        return (x - self.mean[:, None]) * self.scale[:, None]

    def frame_specs(self) -> list[FrameSpec]:
        """One frame-wise step: the statistics are fixed."""
        return [pointwise(self.forward, "frozen_normalize")]
