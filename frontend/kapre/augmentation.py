"""Kapre's augmentation layers: ``SpecAugment`` and ``ChannelSwap`` (training only).

Both are the identity in ``eval()`` mode, as Kapre's are at inference (``training=False``), so
they vanish from exported graphs. In training they draw masks / permutations the way Kapre 0.4.1
does (``kapre/augmentation.py``); unlike Kapre's ``SpecAugment``, any channel count works.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from audiofront.errors import ConfigError, InputError
from audiofront.frontend.kapre.backend import CH_LAST, resolve_data_format

__all__ = ["SpecAugment", "ChannelSwap"]


class SpecAugment(nn.Module):
    """Kapre's ``SpecAugment``: time and frequency masks, ``(batch, frames, freq, ch)`` in and out.

    Per example (shared by its channels), each of ``n_freq_masks`` masks draws a width ``w`` from
    ``0..freq_mask_param - 1`` and a start ``s`` from ``0..freq - w - 1`` and sets bins ``s..s + w``
    (``w + 1`` bins, both ends included, as Kapre) to ``mask_value``; time masks likewise.
    ``data_format='channels_first'``: ``(batch, ch, frames, freq)``.

    Example::

        >>> aug = SpecAugment(freq_mask_param=5, time_mask_param=10).train()
        >>> aug(torch.rand(2, 61, 64, 1)).shape
        torch.Size([2, 61, 64, 1])
    """

    def __init__(self, freq_mask_param: int, time_mask_param: int, n_freq_masks: int = 1, n_time_masks: int = 1,
                 mask_value: float = 0.0, data_format: str = "default"):
        super().__init__()
        for name, value, low in (("freq_mask_param", freq_mask_param, 1), ("time_mask_param", time_mask_param, 1),
                                 ("n_freq_masks", n_freq_masks, 0), ("n_time_masks", n_time_masks, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low} (Kapre needs both mask params), got {value!r}")
        if not (isinstance(mask_value, (int, float)) and math.isfinite(mask_value)):
            raise ConfigError(f"mask_value must be a finite number, got {mask_value!r}")
        self.freq_mask_param, self.time_mask_param = freq_mask_param, time_mask_param
        self.n_freq_masks, self.n_time_masks = n_freq_masks, n_time_masks
        self.mask_value = float(mask_value)
        self.data_format = resolve_data_format(data_format)

    @staticmethod
    def _mask(batch: int, size: int, param: int, count: int, device) -> torch.Tensor:
        """``(batch, size)`` bool: the union of ``count`` Kapre masks per example."""
        width = torch.floor(torch.rand(batch, count, 1, device=device) * param)
        start = torch.floor(torch.rand(batch, count, 1, device=device) * (size - width))
        pos = torch.arange(size, device=device)
        return ((pos >= start) & (pos <= start + width)).any(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            raise InputError(f"input must be a 4-D spectrogram batch, got {getattr(x, 'shape', type(x).__name__)}")
        time_axis, freq_axis = (1, 2) if self.data_format == CH_LAST else (2, 3)
        n_time, n_freq = x.shape[time_axis], x.shape[freq_axis]
        if n_time < self.time_mask_param or n_freq < self.freq_mask_param:
            raise InputError(f"frames ({n_time}) and freq ({n_freq}) must be >= time_mask_param "
                             f"({self.time_mask_param}) and freq_mask_param ({self.freq_mask_param})")
        shape = [x.shape[0], 1, 1, 1]
        mask = torch.zeros(x.shape, dtype=torch.bool, device=x.device)
        if self.n_time_masks:
            shape_t = list(shape)
            shape_t[time_axis] = n_time
            mask = mask | self._mask(x.shape[0], n_time, self.time_mask_param, self.n_time_masks, x.device).reshape(shape_t)
        if self.n_freq_masks:
            shape_f = list(shape)
            shape_f[freq_axis] = n_freq
            mask = mask | self._mask(x.shape[0], n_freq, self.freq_mask_param, self.n_freq_masks, x.device).reshape(shape_f)
        return torch.where(mask, torch.full_like(x, self.mask_value), x)


class ChannelSwap(nn.Module):
    """Kapre's ``ChannelSwap``: a random permutation of the channels in training (one per call, as Kapre).

    Waveforms ``(batch, time, ch)`` or spectrograms ``(batch, frames, freq, ch)`` (channels_last),
    or channels first ``(batch, ch, ...)``. The identity in ``eval()`` and for one channel.

    Example::

        >>> x = torch.arange(8.0).reshape(1, 4, 2)
        >>> sorted(ChannelSwap().train()(x)[0, 0].tolist())
        [0.0, 1.0]
    """

    def __init__(self, data_format: str = "default"):
        super().__init__()
        self.data_format = resolve_data_format(data_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        if not isinstance(x, torch.Tensor) or x.ndim not in (3, 4):
            raise InputError(f"input must be 3-D (batch signal) or 4-D (batch spectrogram), got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        axis = x.ndim - 1 if self.data_format == CH_LAST else 1
        if x.shape[axis] == 1:
            return x
        return x.index_select(axis, torch.randperm(x.shape[axis], device=x.device))
