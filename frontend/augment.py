"""Training-only augmentation: ``AdditiveNoise`` and ``SpecAugment``.

Both are the identity in ``eval()`` mode, so they vanish from exported graphs (export runs in
eval mode). Every random draw is per item, so an item's augmentation never depends on its batch.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from audiofront.errors import ConfigError
from audiofront.frontend.framewise import FrameSpec
from audiofront.frontend.inputs import check_features, check_waveform

__all__ = ["AdditiveNoise", "SpecAugment"]


def _eval_only(module: nn.Module) -> list[FrameSpec]:
    if module.training:
        raise ConfigError(
            f"{type(module).__name__} is training-only augmentation and the module is in training mode; "
            "call .eval() on the front-end before streaming it (it is then the identity)"
        )
    return []


def _probability(name: str, p) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ConfigError(f"{name} must be a probability in [0, 1], got {p!r}")
    return float(p)


class AdditiveNoise(nn.Module):
    """Add white Gaussian noise at a random signal-to-noise ratio (training only).

    Shapes: ``(..., time)`` in and out. Each item draws its SNR uniformly from ``snr_db =
    (low, high)`` dB relative to its own power and gets noise with probability ``p``.

    Example::

        >>> noise = AdditiveNoise(snr_db=(10.0, 30.0)).train()
        >>> noise(torch.randn(4, 16000)).shape
        torch.Size([4, 16000])
    """

    def __init__(self, snr_db: tuple[float, float] = (10.0, 40.0), p: float = 1.0):
        super().__init__()
        try:
            low, high = (float(v) for v in snr_db)
        except (TypeError, ValueError):
            raise ConfigError(f"snr_db must be a pair (low, high) of numbers in dB, got {snr_db!r}") from None
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise ConfigError(f"snr_db must be finite with low <= high, got {snr_db!r}")
        self.snr_db = (low, high)
        self.p = _probability("p", p)

    def frame_specs(self) -> list[FrameSpec]:
        """No step in eval mode (the identity); refused while training (augmentation is not inference)."""
        return _eval_only(self)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return waveform
        check_waveform(waveform, 1)
        item_shape = waveform.shape[:-1] + (1,)
        power = waveform.pow(2).mean(dim=-1, keepdim=True)
        snr = torch.empty(item_shape, device=waveform.device).uniform_(*self.snr_db)
        scale = torch.sqrt(power / 10.0 ** (snr / 10.0))
        apply = (torch.rand(item_shape, device=waveform.device) < self.p).to(waveform.dtype)
        return waveform + apply * scale * torch.randn_like(waveform)


class SpecAugment(nn.Module):
    """Time and frequency masking (Park et al., 2019), training only.

    Shapes: ``(..., freq, frames)`` in and out. Arguments, their order and defaults follow
    ``torchaudio.transforms.SpecAugment``: ``n_time_masks`` spans of width ``U[0, T]`` frames and
    ``n_freq_masks`` bands of width ``U[0, F]`` bins, where ``T = min(time_mask_param, p * frames)``
    and ``F = min(freq_mask_param, p * freq)`` (``p`` is the largest share of an axis one mask
    may cover). Masked cells get 0 with ``zero_masking=True``, else the mean of the item's own
    ``(freq, frames)`` map (torchaudio uses the whole batch's mean; per item keeps an item
    independent of its batch). ``iid_masks=True`` draws masks per item and channel; ``False``
    shares one draw across the batch. Keyword-only extras: ``mask_value`` (a fixed fill that
    overrides ``zero_masking``) and ``mask_prob`` (the probability that each mask is applied).

    Example::

        >>> aug = SpecAugment(n_time_masks=2, time_mask_param=20, n_freq_masks=2, freq_mask_param=8).train()
        >>> aug(torch.rand(4, 64, 100)).shape
        torch.Size([4, 64, 100])
    """

    def __init__(self, n_time_masks: int = 1, time_mask_param: int = 0, n_freq_masks: int = 1,
                 freq_mask_param: int = 0, iid_masks: bool = True, p: float = 1.0, zero_masking: bool = False,
                 *, mask_value: float | None = None, mask_prob: float = 1.0):
        super().__init__()
        for name, value in (("n_time_masks", n_time_masks), ("time_mask_param", time_mask_param),
                            ("n_freq_masks", n_freq_masks), ("freq_mask_param", freq_mask_param)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
        self.n_time_masks, self.time_mask_param = n_time_masks, time_mask_param
        self.n_freq_masks, self.freq_mask_param = n_freq_masks, freq_mask_param
        self.iid_masks = bool(iid_masks)
        self.p = _probability("p", p)
        self.zero_masking = bool(zero_masking)
        if mask_value is not None and not (isinstance(mask_value, (int, float)) and math.isfinite(mask_value)):
            raise ConfigError(f"mask_value must be None or a finite number, got {mask_value!r}")
        self.mask_value = None if mask_value is None else float(mask_value)
        self.mask_prob = _probability("mask_prob", mask_prob)

    def _masks(self, x: torch.Tensor, dim: int, param: int, count: int) -> torch.Tensor:
        """Boolean mask, True where masked, broadcastable to ``x`` along ``dim``."""
        size = x.shape[dim]
        lead = x.shape[:-2] if self.iid_masks else (1,) * (x.ndim - 2)
        draw_shape = lead + (count, 1)
        limit = min(param, int(size * self.p))
        width = torch.floor(torch.rand(draw_shape, device=x.device) * (limit + 1))
        start = torch.floor(torch.rand(draw_shape, device=x.device) * (size - width + 1))
        apply = torch.rand(draw_shape, device=x.device) < self.mask_prob
        pos = torch.arange(size, device=x.device)
        mask = ((pos >= start) & (pos < start + width) & apply).any(dim=-2)  # (..., size)
        return mask.unsqueeze(-1) if dim == -2 else mask.unsqueeze(-2)

    def frame_specs(self) -> list[FrameSpec]:
        """No step in eval mode (the identity); refused while training (its masks span the whole item)."""
        return _eval_only(self)

    def forward(self, specgram: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return specgram
        check_features(specgram)
        mask = torch.zeros_like(specgram, dtype=torch.bool)
        if self.n_freq_masks and self.freq_mask_param:
            mask = mask | self._masks(specgram, -2, self.freq_mask_param, self.n_freq_masks)
        if self.n_time_masks and self.time_mask_param:
            mask = mask | self._masks(specgram, -1, self.time_mask_param, self.n_time_masks)
        if self.mask_value is not None:
            fill = torch.full_like(specgram, self.mask_value)
        elif self.zero_masking:
            fill = torch.zeros_like(specgram)
        else:
            fill = specgram.mean(dim=(-2, -1), keepdim=True).expand_as(specgram)
        return torch.where(mask, fill, specgram)
