"""Kapre's composed layers (``kapre/composed.py``) as torch modules, with Kapre's arguments and defaults.

Each ``get_*`` function returns an ``nn.Module`` (a :class:`KapreSequential` where Kapre returns a
``keras.Sequential``) that gives Kapre 0.4.1's numbers. ``input_shape`` is accepted and ignored:
torch modules take any length. Note Kapre's conventions, kept here: no centring, mel and
log filterbanks over *magnitudes*, ``10 * log10`` decibels floored jointly over channels.
"""

from __future__ import annotations

import torch
from torch import nn

from audiofront.errors import ConfigError
from audiofront.frontend.kapre.backend import CH_FIRST, CH_LAST, resolve_data_format
from audiofront.frontend.kapre.layers import (
    STFT,
    ApplyFilterbank,
    ConcatenateFrequencyMap,
    InverseSTFT,
    Magnitude,
    MagnitudeToDecibel,
    Phase,
)

__all__ = [
    "KapreSequential",
    "StftMagPhase",
    "FrequencyAwareConv2d",
    "get_stft_magnitude_layer",
    "get_melspectrogram_layer",
    "get_log_frequency_spectrogram_layer",
    "get_perfectly_reconstructing_stft_istft",
    "get_stft_mag_phase",
    "get_frequency_aware_conv2d",
]


class KapreSequential(nn.Sequential):
    """``nn.Sequential`` with a ``name``, as Kapre's composed layers are named ``keras.Sequential`` models."""

    def __init__(self, *modules: nn.Module, name: str):
        super().__init__(*modules)
        self.name = name


def _stft(n_fft, win_length, hop_length, window_name, pad_begin, pad_end, input_data_format, output_data_format):
    for fmt, what in ((input_data_format, "input_data_format"), (output_data_format, "output_data_format")):
        resolve_data_format(fmt, what)
    return STFT(n_fft=n_fft, win_length=win_length, hop_length=hop_length, window_name=window_name,
                pad_begin=pad_begin, pad_end=pad_end, input_data_format=input_data_format,
                output_data_format=output_data_format)


def _with_db(layers: list[nn.Module], return_decibel, db_amin, db_ref_value, db_dynamic_range, name) -> KapreSequential:
    if return_decibel:
        layers.append(MagnitudeToDecibel(ref_value=db_ref_value, amin=db_amin, dynamic_range=db_dynamic_range))
    return KapreSequential(*layers, name=name)


def get_stft_magnitude_layer(input_shape=None, n_fft=2048, win_length=None, hop_length=None, window_name=None,
                             pad_begin=False, pad_end=False, return_decibel=False, db_amin=1e-5, db_ref_value=1.0,
                             db_dynamic_range=80.0, input_data_format="default", output_data_format="default",
                             name="stft_magnitude") -> KapreSequential:
    """``STFT -> Magnitude [-> MagnitudeToDecibel]``: ``(batch, time, ch) -> (batch, frames, n_fft // 2 + 1, ch)``.

    Example::

        >>> get_stft_magnitude_layer(n_fft=512, hop_length=256, return_decibel=True)(torch.randn(2, 16000, 1)).shape
        torch.Size([2, 61, 257, 1])
    """
    stft = _stft(n_fft, win_length, hop_length, window_name, pad_begin, pad_end, input_data_format, output_data_format)
    return _with_db([stft, Magnitude()], return_decibel, db_amin, db_ref_value, db_dynamic_range, name)


def get_melspectrogram_layer(input_shape=None, n_fft=2048, win_length=None, hop_length=None, window_name=None,
                             pad_begin=False, pad_end=False, sample_rate=22050, n_mels=128, mel_f_min=0.0,
                             mel_f_max=None, mel_htk=False, mel_norm="slaney", return_decibel=False, db_amin=1e-5,
                             db_ref_value=1.0, db_dynamic_range=80.0, input_data_format="default",
                             output_data_format="default", name="melspectrogram") -> KapreSequential:
    """``STFT -> Magnitude -> ApplyFilterbank('mel') [-> MagnitudeToDecibel]``: ``(batch, time, ch) -> (batch, frames, n_mels, ch)``.

    Kapre's defaults: Slaney mel scale with Slaney normalisation, applied to the STFT magnitude.

    Example::

        >>> mel = get_melspectrogram_layer(n_fft=512, hop_length=256, sample_rate=16000, n_mels=64, return_decibel=True)
        >>> mel(torch.randn(2, 16000, 1)).shape
        torch.Size([2, 61, 64, 1])
    """
    stft = _stft(n_fft, win_length, hop_length, window_name, pad_begin, pad_end, input_data_format, output_data_format)
    kwargs = {"sample_rate": sample_rate, "n_freq": n_fft // 2 + 1, "n_mels": n_mels, "f_min": mel_f_min,
              "f_max": mel_f_max, "htk": mel_htk, "norm": mel_norm}
    fb = ApplyFilterbank(type="mel", filterbank_kwargs=kwargs, data_format=output_data_format)
    return _with_db([stft, Magnitude(), fb], return_decibel, db_amin, db_ref_value, db_dynamic_range, name)


def get_log_frequency_spectrogram_layer(input_shape=None, n_fft=2048, win_length=None, hop_length=None,
                                        window_name=None, pad_begin=False, pad_end=False, sample_rate=22050,
                                        log_n_bins=84, log_f_min=None, log_bins_per_octave=12, log_spread=0.125,
                                        return_decibel=False, db_amin=1e-5, db_ref_value=1.0, db_dynamic_range=80.0,
                                        input_data_format="default", output_data_format="default",
                                        name="log_frequency_spectrogram") -> KapreSequential:
    """``STFT -> Magnitude -> ApplyFilterbank('log') [-> MagnitudeToDecibel]``: ``(batch, time, ch) -> (batch, frames, log_n_bins, ch)``.

    Example::

        >>> log = get_log_frequency_spectrogram_layer(n_fft=1024, hop_length=512, sample_rate=22050)
        >>> log(torch.randn(1, 22050, 2)).shape
        torch.Size([1, 42, 84, 2])
    """
    stft = _stft(n_fft, win_length, hop_length, window_name, pad_begin, pad_end, input_data_format, output_data_format)
    kwargs = {"sample_rate": sample_rate, "n_freq": n_fft // 2 + 1, "n_bins": log_n_bins,
              "bins_per_octave": log_bins_per_octave, "f_min": log_f_min, "spread": log_spread}
    fb = ApplyFilterbank(type="log", filterbank_kwargs=kwargs, data_format=output_data_format)
    return _with_db([stft, Magnitude(), fb], return_decibel, db_amin, db_ref_value, db_dynamic_range, name)


def get_perfectly_reconstructing_stft_istft(n_fft, hop_length, waveform_data_format, stft_data_format, stft_name=None,
                                            istft_name=None) -> tuple[STFT, InverseSTFT]:
    """An ``(STFT, InverseSTFT)`` pair with a Hann window, ``pad_begin`` and ``pad_end``, as Kapre builds it.

    ``istft(stft(x))`` starts with the ``n_fft - hop_length`` samples ``pad_begin`` added, then ``x``.

    Example::

        >>> stft, istft = get_perfectly_reconstructing_stft_istft(512, 128, "channels_last", "channels_last")
        >>> x = torch.randn(1, 4000, 1)
        >>> bool(torch.allclose(istft(stft(x))[:, 384:384 + 4000], x, atol=1e-4))
        True
    """
    stft = STFT(n_fft=n_fft, win_length=n_fft, hop_length=hop_length, window_name="hann_window", pad_begin=True,
                pad_end=True, input_data_format=waveform_data_format, output_data_format=stft_data_format)
    istft = InverseSTFT(n_fft=n_fft, win_length=n_fft, hop_length=hop_length, forward_window_name="hann_window",
                        input_data_format=stft_data_format, output_data_format=waveform_data_format)
    stft.name, istft.name = stft_name, istft_name
    return stft, istft


class StftMagPhase(nn.Module):
    """Magnitude (optionally in dB) and phase, concatenated along channels: ``(batch, time, ch) -> (batch, frames, freq, 2 * ch)``."""

    def __init__(self, stft: STFT, db: MagnitudeToDecibel | None, name: str):
        super().__init__()
        self.stft, self.magnitude, self.phase, self.db = stft, Magnitude(), Phase(), db
        self.ch_axis = 1 if stft.output_data_format == CH_FIRST else 3
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = self.stft(x)
        mag = self.magnitude(spec)
        if self.db is not None:
            mag = self.db(mag)
        return torch.cat([mag, self.phase(spec)], dim=self.ch_axis)


def get_stft_mag_phase(input_shape=None, n_fft=2048, win_length=None, hop_length=None, window_name=None,
                       pad_begin=False, pad_end=False, return_decibel=False, db_amin=1e-5, db_ref_value=1.0,
                       db_dynamic_range=80.0, input_data_format="default", output_data_format="default",
                       name="stft_mag_phase") -> StftMagPhase:
    """``[magnitude (dB) channels; phase channels]``: ``(batch, time, ch) -> (batch, frames, freq, 2 * ch)``.

    Example::

        >>> get_stft_mag_phase(n_fft=1024, hop_length=512, return_decibel=True)(torch.randn(1, 2048, 3)).shape
        torch.Size([1, 3, 513, 6])
    """
    stft = _stft(n_fft, win_length, hop_length, window_name, pad_begin, pad_end, input_data_format, output_data_format)
    db = MagnitudeToDecibel(ref_value=db_ref_value, amin=db_amin, dynamic_range=db_dynamic_range) \
        if return_decibel else None
    return StftMagPhase(stft, db, name)


class FrequencyAwareConv2d(nn.Module):
    """``ConcatenateFrequencyMap`` then a 2-D convolution (Koutini et al., 2019), Keras ``Conv2D``'s arguments.

    ``(batch, frames, freq, ch) -> (batch, frames', freq', filters)`` (channels_last) or channels
    first. ``in_channels`` is the input's channel count (Keras infers it; torch needs it), the conv
    sees ``in_channels + 1``. ``padding`` is ``'valid'`` or ``'same'`` (stride 1); ``activation``
    ``None``, ``'linear'`` or ``'relu'``. :meth:`load_keras_weights` takes a Keras kernel
    ``(kh, kw, in + 1, filters)`` and bias.
    """

    def __init__(self, in_channels: int, filters: int, kernel_size, strides=(1, 1), padding: str = "valid",
                 data_format: str = "default", dilation_rate=(1, 1), activation=None, use_bias: bool = True,
                 name: str = "frequency_aware_conv2d"):
        super().__init__()
        pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
        if padding not in ("valid", "same"):
            raise ConfigError(f"padding must be 'valid' or 'same', got {padding!r}")
        if padding == "same" and pair(strides) != (1, 1):
            raise ConfigError(f"padding='same' needs strides (1, 1) here (torch pads symmetrically), got {strides!r}")
        if activation not in (None, "linear", "relu"):
            raise ConfigError(f"activation must be None, 'linear' or 'relu', got {activation!r}")
        self.data_format = resolve_data_format(data_format)
        self.freq_map = ConcatenateFrequencyMap(data_format=self.data_format)
        self.conv = nn.Conv2d(in_channels + 1, filters, pair(kernel_size), stride=pair(strides), padding=padding,
                              dilation=pair(dilation_rate), bias=use_bias)
        self.activation, self.name = activation, name

    def load_keras_weights(self, kernel, bias=None) -> None:
        """Copy a Keras ``Conv2D`` kernel ``(kh, kw, in, out)`` (and bias ``(out,)``) into the torch conv."""
        with torch.no_grad():
            self.conv.weight.copy_(torch.as_tensor(kernel, dtype=torch.float32).permute(3, 2, 0, 1))
            if bias is not None and self.conv.bias is not None:
                self.conv.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.freq_map(x)
        if self.data_format == CH_LAST:
            x = x.permute(0, 3, 1, 2)
        y = self.conv(x)
        if self.activation == "relu":
            y = torch.relu(y)
        return y.permute(0, 2, 3, 1) if self.data_format == CH_LAST else y


def get_frequency_aware_conv2d(data_format="default", freq_aware_name="frequency_aware_conv2d", *args,
                               **kwargs) -> FrequencyAwareConv2d:
    """A :class:`FrequencyAwareConv2d`; ``args`` / ``kwargs`` are Keras ``Conv2D``'s plus ``in_channels``.

    Group convolution is refused, as in Kapre (only the last group would see the frequency map).

    Example::

        >>> conv = get_frequency_aware_conv2d("channels_last", "fa", in_channels=1, filters=8, kernel_size=3, padding="same")
        >>> conv(torch.rand(2, 61, 64, 1)).shape
        torch.Size([2, 61, 64, 8])
    """
    if kwargs.pop("groups", 1) != 1:
        raise ConfigError("groups must be 1: group convolution is not supported with a frequency-aware layer")
    if "in_channels" not in kwargs:
        raise ConfigError("in_channels is required (the input's channel count; Keras infers it, torch cannot)")
    return FrequencyAwareConv2d(*args, data_format=data_format, name=freq_aware_name, **kwargs)
