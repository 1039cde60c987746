"""Named front-ends: ready chains with the settings papers and benchmarks use.

A preset is a :class:`FrontEnd` (an ``nn.Sequential`` that also records its sample rate), so
export can read ``sample_rate``, ``n_fft``, ``hop_length`` and ``n_mels`` for its metadata.
Besides Kapre's, :data:`PRESETS` holds the front-ends of models people ship (Whisper, AST,
Kaldi fbank, SeamlessM4T, Speech2Text, Wav2Vec2, PANNs, CLAP), each equal to its reference
extractor's model input (see :mod:`audiofront.frontend.reference_presets` and docs/presets.md).
"""

from __future__ import annotations

import re
from typing import Callable

import torch
from torch import nn

from audiofront.errors import ConfigError
from audiofront.frontend.filterbanks import MelScale, MelSpectrogram
from audiofront.frontend.inputs import InputSpec, input_spec
from audiofront.frontend.kaldi import KaldiFbank, KaldiSpectrogram
from audiofront.frontend.scaling import AmplitudeToDB
from audiofront.frontend.stft import Spectrogram

__all__ = ["FrontEnd", "kapre_stft", "kapre_logmel", "bench_logmel", "PRESETS", "preset"]


class FrontEnd(nn.Sequential):
    """A chain of front-end modules with the facts export needs: ``(..., time) -> (..., bins, frames)``.

    ``sample_rate`` is the rate the chain expects; ``spectrogram`` is its STFT module
    (:class:`Spectrogram` or :class:`~audiofront.frontend.kaldi.KaldiSpectrogram`), from which
    ``n_fft``, ``hop_length`` and :meth:`frames` come; ``n_bins`` is the output's bins.
    ``info`` (reference presets) describes the output for export's metadata: ``layout`` (axes
    after ``batch``, e.g. ``"frames,bins"``), ``frames`` (formula before any fixed length),
    ``fixed_samples`` / ``fixed_frames`` (the length the chain pads or trims to), ``reference``
    and ``reference_version``; see :meth:`export_metadata`.

    Example::

        >>> fe = FrontEnd(MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160, n_mels=40),
        ...               AmplitudeToDB(top_db=80.0), sample_rate=16000)
        >>> fe(torch.randn(2, 16000)).shape, fe.n_bins, fe.frames(16000)
        (torch.Size([2, 40, 101]), 40, 101)
    """

    def __init__(self, *modules: nn.Module, sample_rate: int, name: str = "custom", info: dict | None = None):
        super().__init__(*modules)
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ConfigError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        if info is not None and not isinstance(info, dict):
            raise ConfigError(f"info must be a dict or None, got {type(info).__name__}")
        self.sample_rate = sample_rate
        self.name = name
        self.info = dict(info or {})

    @property
    def spectrogram(self) -> Spectrogram | KaldiSpectrogram:
        for module in self.modules():
            if isinstance(module, (Spectrogram, KaldiSpectrogram)):
                return module
        raise ConfigError("this FrontEnd holds no Spectrogram")

    @property
    def min_length(self) -> int:
        """The fewest samples an input may have: 1 where the chain first pads to a fixed length."""
        first = next(iter(self), None)
        if first is not None and getattr(first, "min_length", None) == 1:
            return 1
        try:
            return self.spectrogram.min_length
        except ConfigError:
            return 1

    @property
    def n_fft(self) -> int:
        return self.spectrogram.n_fft

    @property
    def hop_length(self) -> int:
        return self.spectrogram.hop_length

    @property
    def n_mels(self) -> int | None:
        for module in self.modules():
            if isinstance(module, (MelSpectrogram, MelScale, KaldiFbank)):
                return module.n_mels
        return None

    @property
    def n_bins(self) -> int | None:
        """Feature bins of the output, from a dry run: right for any chain (mel, MFCC, filterbank...).

        ``None`` for a chain whose output has no bins (a waveform normalisation).
        """
        layout = self.info.get("layout", "bins,frames").split(",")
        if "bins" not in layout:
            return None
        spec = self.spectrogram
        with torch.no_grad():
            out = self(torch.zeros(1, max(spec.min_length, spec.n_fft)))
        return int(out.shape[1 + layout.index("bins")])

    def frames(self, length: int) -> int:
        """Output frames for ``length`` samples (the fixed count where the chain pads or trims).

        A chain whose output is a waveform (layout ``"time"``) gives ``length`` samples.
        """
        if self.info.get("layout") == "time":
            return int(length)
        if "fixed_frames" in self.info:
            return int(self.info["fixed_frames"])
        if "fixed_samples" in self.info:
            length = int(self.info["fixed_samples"])
        frames = self.spectrogram.frames(length)
        frames = frames - 1 if self.info.get("drop_last_frame") else frames
        stride = int(self.info.get("frame_stride", 1))
        return -(-frames // stride)

    def input_spec(self):
        """What the chain takes (see :func:`~audiofront.frontend.inputs.input_spec`): its first
        stage's spec, else audio ``(batch, [channels,] time)`` of at least :attr:`min_length` samples."""
        first = input_spec(self[0]) if len(self) else None
        if first is not None:
            return first[0]
        return InputSpec(("time",), min_length=self.min_length, values="audio")

    def frames_formula(self, length: str = "time") -> str | None:
        """The output length as a formula of the input's ``length`` (export's frames law).

        A reference preset knows its own (fixed counts where it pads or trims); ``None`` for other
        chains, whose stages compose it (:func:`~audiofront.export.metadata.chain_frames_formula`).
        """
        if not self.info:
            return None
        if self.info.get("layout") == "time":
            return length
        if "fixed_frames" in self.info or "fixed_samples" in self.info:
            return str(self.frames(int(self.info.get("fixed_samples", 1))))
        if "frames" in self.info:
            return re.sub(r"\btime\b", f"({length})" if length != "time" else "time", self.info["frames"])
        return None

    def export_metadata(self, *, input_rank: int, output_shape) -> dict[str, object]:
        """``audiofront.*`` metadata export adds for this chain (read by ``export_onnx``).

        Chains without ``info`` (Kapre's, custom ones) add nothing; reference presets describe
        their whole output: ``preset``, layout, bins, the frames formula, fixed lengths and the
        reference they equal.
        """
        if not self.info:
            return {}
        meta: dict[str, object] = {"preset": self.name}
        leading = ["batch", "channels"] if input_rank == 3 else ["batch"]
        tokens = leading + self.info["layout"].split(",")
        meta["output_layout"] = ",".join(tokens)
        meta["input_layout"] = ",".join(leading + ["time"])
        if "bins" in tokens:
            meta["n_bins"] = int(output_shape[tokens.index("bins")])
        try:
            spec = self.spectrogram
        except ConfigError:
            spec = None
        if spec is not None:
            meta.update(n_fft=spec.n_fft, hop_length=spec.hop_length, center=spec.center)
            meta["win_length"] = spec.win_length
        meta["n_mels"] = self.n_mels
        for key in ("frames", "fixed_samples", "fixed_frames", "frame_stride", "reference", "reference_version",
                    "input_scale"):
            if key in self.info:
                meta[key] = self.info[key]
        return meta


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
    """Build the preset called ``name`` (one of :data:`PRESETS`).

    Example::

        >>> preset("whisper-80")(torch.randn(1, 16000) * 0.1).shape
        torch.Size([1, 80, 3000])
    """
    if name not in PRESETS:
        raise ConfigError(f"preset must be one of {sorted(PRESETS)}, got {name!r}")
    return PRESETS[name](**kwargs)


# The reference presets build on FrontEnd (above), so they register last.
from audiofront.frontend.reference_presets import REFERENCE_PRESETS  # noqa: E402

PRESETS.update(REFERENCE_PRESETS)
