"""Streaming benchmark: per-chunk latency and real-time factor of a streamed log-mel fbank.

``audiofront bench --streaming``: 10, 20 and 100 ms chunks at 16 kHz, 1 and 64 streams, on
ONNX Runtime CPU (the exported streaming graph through
:class:`~audiofront.runtime.streaming.StreamSession`), torch
(:class:`~audiofront.frontend.streaming.Streaming`) and kaldi-native-fbank's ``OnlineFbank``
(one per stream), all computing the same features: 25 ms symmetric-Hann frames every 10 ms
(``center=False``, i.e. Kaldi's ``snip_edges``), 80 librosa-Slaney mels, ``log(max(mel, eps))``
(no dither, pre-emphasis or DC removal), checked equal before timing.

Per-chunk latency: wall time of one ``push`` of a ``(streams, chunk)`` block (median, p99).
Real-time factor: compute time / audio duration (of one stream: below 1 keeps up with all of them).

Example::

    >>> rows = run_streaming(seconds=1.0, chunks_ms=(20,), streams=(1,), threads=1)
    >>> sorted({r["engine"] for r in rows})
    ['kaldi-native-fbank', 'onnxruntime-cpu', 'torch']
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["fbank_frontend", "run_streaming", "markdown_table", "SAMPLE_RATE"]

SAMPLE_RATE = 16000
_EPS = 1.1920928955078125e-07  # float32 epsilon: Kaldi's log floor


def fbank_frontend(n_mels: int = 80):
    """The fbank our modules compute and kaldi-native-fbank computes the same way: ``(..., time) -> (..., n_mels, frames)``."""
    import torch

    from audiofront.frontend import AmplitudeToDB, FrontEnd, MelScale, Spectrogram

    return FrontEnd(
        Spectrogram(n_fft=400, hop_length=160, window=torch.hann_window(400, periodic=False), center=False),
        MelScale(n_mels=n_mels, sample_rate=SAMPLE_RATE, f_min=20.0, f_max=7600.0, n_stft=201, norm="slaney",
                 mel_scale="slaney"),
        AmplitudeToDB(amin=_EPS),
        sample_rate=SAMPLE_RATE, name="fbank-stream",
    ).eval()


def _knf_options(n_mels: int):
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.preemph_coeff = 0.0
    opts.frame_opts.remove_dc_offset = False
    opts.frame_opts.window_type = "hanning"
    opts.frame_opts.round_to_power_of_two = False
    opts.frame_opts.snip_edges = True
    opts.mel_opts.num_bins = n_mels
    opts.mel_opts.low_freq = 20.0
    opts.mel_opts.high_freq = 7600.0
    opts.mel_opts.is_librosa = True
    return opts


class _Knf:
    """One OnlineFbank per stream; ``push`` returns the new frames ``(streams, n_mels, frames)``, as ours."""

    def __init__(self, streams: int, n_mels: int):
        import kaldi_native_fbank as knf

        self.fbanks = [knf.OnlineFbank(_knf_options(n_mels)) for _ in range(streams)]
        self.n_mels = n_mels
        self.taken = 0

    def push(self, block: np.ndarray) -> np.ndarray:
        for fbank, row in zip(self.fbanks, block):
            fbank.accept_waveform(SAMPLE_RATE, row)
        ready = self.fbanks[0].num_frames_ready
        if ready == self.taken:
            return np.zeros((len(self.fbanks), self.n_mels, 0), np.float32)
        out = np.stack([np.stack([f.get_frame(i) for i in range(self.taken, ready)], axis=-1) for f in self.fbanks])
        self.taken = ready
        return out


def _time(push, blocks) -> tuple[list[float], list[np.ndarray]]:
    times, outs = [], []
    for block in blocks:
        start = time.perf_counter()
        outs.append(push(block))
        times.append(time.perf_counter() - start)
    return times, outs


def run_streaming(*, seconds: float = 4.0, chunks_ms=(10, 20, 100), streams=(1, 64), threads: int = 2,
                  n_mels: int = 80, workdir: str | None = None) -> list[dict]:
    """Time every engine at every chunk size and stream count; one dict per row (times in ms)."""
    import torch

    from audiofront.export.streaming import export_streaming_onnx
    from audiofront.frontend import Streaming
    from audiofront.runtime.streaming import StreamSession

    torch.set_num_threads(threads)
    frontend = fbank_frontend(n_mels)
    folder = Path(workdir or tempfile.mkdtemp(prefix="audiofront-stream-bench-"))
    rng = np.random.default_rng(0)
    rows = []
    for ms in chunks_ms:
        chunk = SAMPLE_RATE * ms // 1000
        path = export_streaming_onnx(frontend, folder / f"fbank_{chunk}.onnx", chunk_samples=chunk)
        for n in streams:
            audio = (rng.standard_normal((n, int(seconds * SAMPLE_RATE))) * 0.1).astype(np.float32)
            blocks = [audio[:, i:i + chunk] for i in range(0, audio.shape[1] - chunk + 1, chunk)]
            duration = len(blocks) * chunk / SAMPLE_RATE
            engines = {}
            session = StreamSession(path, threads=threads)
            engines["onnxruntime-cpu"] = session.push
            stream = Streaming(frontend)
            engines["torch"] = lambda b, s=stream: s.push(torch.from_numpy(b)).numpy()
            try:
                engines["kaldi-native-fbank"] = _Knf(n, n_mels).push
            except ImportError:
                pass
            frames = {}
            for name, push in engines.items():
                _time(push, blocks[:5])  # warm-up: first-call allocations, thread pools
                times, outs = _time(push, blocks[5:])
                frames[name] = np.concatenate(outs, axis=-1)
                ms_times = np.array(times) * 1e3
                rows.append({"engine": name, "chunk_ms": ms, "streams": n, "chunks": len(times),
                             "median_ms": float(np.median(ms_times)), "p99_ms": float(np.percentile(ms_times, 99)),
                             "rtf": float(ms_times.sum() / 1e3 / (duration * len(times) / len(blocks)))})
            session.close()
            # Same features before the numbers mean anything: ours in dB, Kaldi's in nepers.
            ref = frames["torch"]
            for name, got in frames.items():
                count = min(got.shape[-1], ref.shape[-1])
                scale = math.log(10.0) / 10.0 if name != "kaldi-native-fbank" else 1.0
                if not np.allclose(got[..., :count] * scale, ref[..., :count] * math.log(10.0) / 10.0, atol=2e-3):
                    raise AssertionError(f"{name} gives other features than torch at {ms} ms x {n} streams")
    return rows


def markdown_table(rows: list[dict]) -> str:
    lines = ["| chunk | streams | engine | median ms / chunk | p99 ms / chunk | real-time factor |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['chunk_ms']} ms | {r['streams']} | {r['engine']} | {r['median_ms']:.3f} | "
                     f"{r['p99_ms']:.3f} | {r['rtf']:.4f} |")
    return "\n".join(lines)
