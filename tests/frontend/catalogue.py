"""Every front-end module in small test-sized settings, with inputs to feed it.

Shared by the batch-invariance and ONNX export tests, so both cover the same list.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Callable

import numpy as np
import torch
from torch import nn

from audiofront.frontend import (
    MFCC,
    AdditiveNoise,
    AmplitudeToDB,
    ComputeDeltas,
    Energy,
    Filterbank,
    Frame,
    FrozenNormalize,
    InverseSpectrogram,
    LogMelToMFCC,
    Magnitude,
    MelSpectrogram,
    Normalize,
    Phase,
    SpecAugment,
    Spectrogram,
    bench_logmel,
    kapre_logmel,
    kapre_stft,
)

__all__ = ["Case", "CASES"]

N_FFT, HOP = 64, 16
N_FREQ = N_FFT // 2 + 1


@dataclasses.dataclass(frozen=True)
class Case:
    """``build()`` gives the module in eval mode; ``example(batch, length, seed)`` an input.

    ``kind`` is the input's layout: ``"wave"`` ``(*batch, time)``, ``"spec"`` ``(*batch, freq,
    frames)`` or ``"complex"`` ``(*batch, freq, frames, 2)``; ``min_length`` the fewest samples or
    frames along its time axis the module takes.
    """

    name: str
    build: Callable[[], nn.Module]
    kind: str
    n_freq: int = N_FREQ
    min_length: int = 1
    channels: int | None = None  # a fixed channel dim before the features, e.g. Normalize("example")
    # False where another case exports the same graph with other constants (exports cost seconds).
    export: bool = True

    @property
    def time_axis(self) -> int:
        return -2 if self.kind == "complex" else -1

    def example(self, batch: tuple[int, ...], length: int, seed: int = 0) -> torch.Tensor:
        rng = np.random.default_rng(seed)
        if self.channels is not None:
            batch = batch + (self.channels,)
        if self.kind == "wave":
            x = rng.standard_normal(batch + (length,)) * 0.3
        elif self.kind == "spec":
            x = 10.0 ** rng.uniform(-6, 1, size=batch + (self.n_freq, length))
        else:
            x = rng.standard_normal(batch + (self.n_freq, length, 2))
        return torch.from_numpy(x).float()

    def module(self) -> nn.Module:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # empty filters at these small sizes
            return self.build().eval()


def _frozen() -> FrozenNormalize:
    rng = np.random.default_rng(0)
    return FrozenNormalize(rng.uniform(-1, 1, N_FREQ), rng.uniform(0.5, 2, N_FREQ))


CASES: list[Case] = [
    Case("spectrogram-power2", lambda: Spectrogram(n_fft=N_FFT, hop_length=HOP), "wave", min_length=N_FFT // 2 + 1),
    Case("spectrogram-power1", lambda: Spectrogram(n_fft=N_FFT, hop_length=HOP, power=1.0, window="hamming"), "wave",
         min_length=N_FFT // 2 + 1),
    Case("spectrogram-complex", lambda: Spectrogram(n_fft=N_FFT, hop_length=HOP, power=None, pad_mode="constant"),
         "wave", min_length=1),
    Case("spectrogram-uncentred", lambda: Spectrogram(n_fft=N_FFT - 1, hop_length=HOP, center=False, window="blackman"),
         "wave", min_length=N_FFT - 1),
    # Each way of computing the DFT, whatever the default is.
    Case("spectrogram-direct", lambda: Spectrogram(n_fft=N_FFT, hop_length=HOP, algorithm="direct"), "wave",
         min_length=N_FFT // 2 + 1),
    Case("spectrogram-factored", lambda: Spectrogram(n_fft=N_FFT, hop_length=HOP, power=None, algorithm="factored"),
         "wave", min_length=N_FFT // 2 + 1),
    Case("spectrogram-trainable", lambda: Spectrogram(n_fft=N_FFT, hop_length=HOP, trainable=True), "wave",
         min_length=N_FFT // 2 + 1),
    Case("mel-spectrogram-direct", lambda: MelSpectrogram(sample_rate=8000, n_fft=N_FFT, hop_length=HOP, n_mels=12,
                                                          algorithm="direct", trainable_mel=True), "wave",
         min_length=N_FFT // 2 + 1),
    Case("inverse-spectrogram", lambda: InverseSpectrogram(n_fft=N_FFT, hop_length=HOP), "complex"),
    Case("magnitude", lambda: Magnitude(), "complex"),
    Case("phase", lambda: Phase(), "complex"),
    Case("mel-spectrogram", lambda: MelSpectrogram(sample_rate=8000, n_fft=N_FFT, hop_length=HOP, n_mels=12), "wave",
         min_length=N_FFT // 2 + 1),
    Case("mel-spectrogram-slaney", lambda: MelSpectrogram(sample_rate=8000, n_fft=N_FFT, hop_length=HOP, n_mels=12,
                                                          norm="slaney", mel_scale="slaney"), "wave",
         min_length=N_FFT // 2 + 1, export=False),
    Case("mfcc", lambda: MFCC(sample_rate=8000, n_mfcc=8, melkwargs={"n_fft": N_FFT, "hop_length": HOP, "n_mels": 12}),
         "wave", min_length=N_FFT // 2 + 1),
    Case("mfcc-log-mels", lambda: MFCC(sample_rate=8000, n_mfcc=8, log_mels=True,
                                       melkwargs={"n_fft": N_FFT, "hop_length": HOP, "n_mels": 12}),
         "wave", min_length=N_FFT // 2 + 1, export=False),
    Case("compute-deltas", lambda: ComputeDeltas(win_length=5), "spec"),
    Case("amplitude-to-db", lambda: AmplitudeToDB("power", top_db=80.0), "spec"),
    Case("amplitude-to-db-magnitude", lambda: AmplitudeToDB("magnitude"), "spec"),
    Case("normalize-frequency", lambda: Normalize("frequency"), "spec", min_length=2),
    Case("normalize-time", lambda: Normalize("time"), "spec"),
    Case("normalize-channel", lambda: Normalize("channel"), "spec"),
    Case("normalize-example", lambda: Normalize("example"), "spec", channels=2),
    Case("frozen-normalize", _frozen, "spec"),
    Case("filterbank-mel", lambda: Filterbank.mel(sample_rate=8000, n_fft=N_FFT, n_mels=10), "spec"),
    Case("filterbank-log", lambda: Filterbank.log(sample_rate=8000, n_fft=N_FFT, n_bins=6, bins_per_octave=2,
                                                  f_min=250.0), "spec"),
    Case("filterbank-linear", lambda: Filterbank.linear(sample_rate=8000, n_fft=N_FFT, n_bins=8), "spec"),
    Case("filterbank-random", lambda: Filterbank.random(n_fft=N_FFT, n_bins=8), "spec"),
    # Kapre's presets (no centring: 512 samples at least) export alone (tests/export export them with
    # export_onnx, test_kapre_onnx.py the same chains); inside the shared "wave" graph torch 2.13's
    # shape solver fails ("Expected op to be '==', got <" in symbolic_shapes) once time >= 512 there.
    Case("kapre-stft", lambda: kapre_stft(8000, top_db=80.0), "wave", min_length=512, export=False),
    Case("kapre-logmel", lambda: kapre_logmel(8000, n_mels=32, top_db=80.0), "wave", min_length=512, export=False),
    Case("bench-logmel", lambda: bench_logmel(8000, n_mels=32, top_db=80.0), "wave", min_length=257),
    # Options added for Kapre's conventions (tf.signal framing, TF's iSTFT normalisation...).
    Case("spectrogram-tf-framing", lambda: Spectrogram(n_fft=N_FFT, win_length=48, hop_length=HOP, window="vorbis",
                                                       power=1.0, center=False, pad_begin=N_FFT - HOP, pad_end=True,
                                                       window_align="start"), "wave", min_length=1),
    Case("inverse-spectrogram-steady", lambda: InverseSpectrogram(n_fft=N_FFT, win_length=48, hop_length=HOP,
                                                                  window="kaiser", center=False, window_align="start",
                                                                  window_norm="steady_state"), "complex"),
    Case("phase-approx-atan", lambda: Phase(approx_atan_terms=12), "complex"),
    Case("compute-deltas-symmetric", lambda: ComputeDeltas(win_length=5, mode="symmetric"), "spec", min_length=2),
    Case("compute-deltas-reflect", lambda: ComputeDeltas(win_length=5, mode="reflect"), "spec", min_length=3),
    Case("amplitude-to-db-example", lambda: AmplitudeToDB(top_db=80.0, top_db_scope="example"), "spec", channels=2),
    Case("log-mel-to-mfcc", lambda: LogMelToMFCC(n_mfcc=8, n_mels=N_FREQ), "spec"),
    Case("filterbank-lognormal", lambda: Filterbank.log(sample_rate=8000, n_fft=N_FFT, n_bins=6, bins_per_octave=2,
                                                        f_min=250.0, shape="lognormal"), "spec"),
    Case("frame", lambda: Frame(frame_length=16, hop_length=8, pad_end=True), "wave"),
    Case("energy", lambda: Energy(sample_rate=8000, ref_duration=0.01, frame_length=32, hop_length=16), "wave",
         min_length=32),
    Case("additive-noise-eval", lambda: AdditiveNoise(snr_db=(0.0, 10.0)), "wave"),
    Case("spec-augment-eval", lambda: SpecAugment(freq_mask_param=5, time_mask_param=5), "spec"),
]
