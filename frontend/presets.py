"""Named front-ends: ready chains with the settings papers and benchmarks use.

A preset is a :class:`FrontEnd` (an ``nn.Sequential`` that also records its sample rate), so
export can read ``sample_rate``, ``n_fft``, ``hop_length`` and ``n_mels`` for its metadata.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from audiofront.errors import ConfigError
from audiofront.frontend.filterbanks import MelSpectrogram
from audiofront.frontend.scaling import AmplitudeToDB
from audiofront.frontend.stft import Spectrogram

__all__ = ["FrontEnd", "kapre_stft", "kapre_logmel", "bench_logmel", "PRESETS", "preset"]


class FrontEnd(nn.Sequential):
    """A chain of front-end modules with the facts export needs: ``(..., time) -> (..., bins, frames)``.

    ``sample_rate`` is the rate the chain expects; ``spectrogram`` is its STFT module, from
    which ``n_fft``, ``hop_length`` and :meth:`frames` come; ``n_bins`` is the output's bins.

    Example::

        >>> fe = FrontEnd(MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160, n_mels=40),
        ...               AmplitudeToDB(top_db=80.0), sample_rate=16000)
        >>> fe(torch.randn(2, 16000)).shape, fe.n_bins, fe.frames(16000)
        (torch.Size([2, 40, 101]), 40, 101)
    """

    def __init__(self, *modules: nn.Module, sample_rate: int, name: str = "custom"):
        super().__init__(*modules)
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ConfigError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        self.sample_rate = sample_rate
        self.name = name

    @property
    def spectrogram(self) -> Spectrogram:
        for module in self.modules():
            if isinstance(module, Spectrogram):
                return module
        raise ConfigError("this FrontEnd holds no Spectrogram")

    @property
    def n_fft(self) -> int:
        return self.spectrogram.n_fft

    @property
    def hop_length(self) -> int:
        return self.spectrogram.hop_length

    @property
    def n_mels(self) -> int | None:
        for module in self.modules():
            if isinstance(module, MelSpectrogram):
                return module.n_mels
        return None

    @property
    def n_bins(self) -> int:
        """Feature bins of the output, from a dry run: right for any chain (mel, MFCC, filterbank...)."""
        spec = self.spectrogram
        with torch.no_grad():
            return int(self(torch.zeros(1, max(spec.min_length, spec.n_fft))).shape[-2])

    def frames(self, length: int) -> int:
        return self.spectrogram.frames(length)

    def input_example(self, batch: int = 1, seconds: float = 1.0) -> torch.Tensor:
        """Random mono audio ``(batch, samples)`` for tracing."""
        return torch.randn(batch, int(self.sample_rate * seconds)) * 0.1


def kapre_stft(sample_rate: int = 32000, *, top_db: float | None = 80.0, algorithm: str = "auto") -> FrontEnd:
    """The Kapre paper's STFT front-end with Kapre's numbers: ``get_stft_magnitude_layer(n_fft=512,
    hop_length=256, return_decibel=True)``.

    ``(..., time) -> (..., 257, frames)``, ``frames = 1 + (time - 512) // 256`` (no centring). Kapre's
    conventions: Hann window, ``10 * log10`` of the *magnitude*, ``amin=1e-5``, floored ``top_db``
    (Kapre's ``dynamic_range``, 80) below the peak. The peak is per channel here; Kapre takes it
    jointly over channels, so for multichannel input use :mod:`audiofront.frontend.kapre`.

    Example::

        >>> kapre_stft()(torch.randn(2, 32000)).shape
        torch.Size([2, 257, 124])
    """
    return FrontEnd(
        Spectrogram(n_fft=512, hop_length=256, power=1.0, center=False, algorithm=algorithm),
        AmplitudeToDB("power", top_db=top_db, amin=1e-5),
        sample_rate=sample_rate,
        name="kapre-stft",
    )


def kapre_logmel(sample_rate: int = 32000, n_mels: int = 128, *, top_db: float | None = 80.0,
                 algorithm: str = "auto") -> FrontEnd:
    """Kapre's log-mel at the paper's geometry: ``get_melspectrogram_layer(n_fft=512, hop_length=256,
    sample_rate=sample_rate, n_mels=n_mels, return_decibel=True)``.

    ``(..., time) -> (..., n_mels, frames)``, no centring. Kapre's conventions: Slaney mel scale and
    Slaney normalisation, mel of the STFT *magnitude*, ``10 * log10``, ``amin=1e-5``, ``top_db``
    (Kapre's ``dynamic_range``, 80), peak per channel (see :func:`kapre_stft`). The benchmarks'
    workload is :func:`bench_logmel`.

    Example::

        >>> fe = kapre_logmel(32000, n_mels=96)
        >>> fe(torch.randn(2, 32000)).shape, fe.n_fft, fe.hop_length, fe.n_mels
        (torch.Size([2, 96, 124]), 512, 256, 96)
    """
    return FrontEnd(
        MelSpectrogram(sample_rate=sample_rate, n_fft=512, hop_length=256, n_mels=n_mels, power=1.0, center=False,
                       norm="slaney", mel_scale="slaney", algorithm=algorithm),
        AmplitudeToDB("power", top_db=top_db, amin=1e-5),
        sample_rate=sample_rate,
        name="kapre-logmel",
    )


def bench_logmel(sample_rate: int = 32000, n_mels: int = 128, *, top_db: float | None = None,
                 algorithm: str = "auto") -> FrontEnd:
    """The benchmarks' workload W: log-mel power spectrogram, n_fft 512, hop 256, ``n_mels`` HTK mels, dB.

    ``(..., time) -> (..., n_mels, frames)``; centred (reflect), ``10 * log10`` of the mel power,
    equal to ``librosa.power_to_db(librosa.feature.melspectrogram(..., htk=True, norm=None))``.
    This was ``kapre_logmel`` before that preset took Kapre's own conventions.

    Example::

        >>> fe = bench_logmel(32000, n_mels=96, top_db=80.0)
        >>> fe(torch.randn(2, 32000)).shape, fe.n_fft, fe.hop_length, fe.n_mels
        (torch.Size([2, 96, 126]), 512, 256, 96)
    """
    return FrontEnd(
        MelSpectrogram(sample_rate=sample_rate, n_fft=512, hop_length=256, n_mels=n_mels, algorithm=algorithm),
        AmplitudeToDB("power", top_db=top_db),
        sample_rate=sample_rate,
        name="bench-logmel",
    )


PRESETS: dict[str, Callable[..., FrontEnd]] = {"kapre-stft": kapre_stft, "kapre-logmel": kapre_logmel,
                                               "bench-logmel": bench_logmel}


def preset(name: str, **kwargs) -> FrontEnd:
    """Build the preset called ``name`` (one of :data:`PRESETS`)."""
    if name not in PRESETS:
        raise ConfigError(f"preset must be one of {sorted(PRESETS)}, got {name!r}")
    return PRESETS[name](**kwargs)
