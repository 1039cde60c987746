"""Inference latency of the log-mel front-end (and front-end + classifier) against its peers.

Workload W is the paper's geometry: log-mel of batch 16 x 30 s mono at 32 kHz, n_fft 512, hop
256, 128 HTK mels, power in dB. Contenders, all measured in one process, interleaved:

- audiofront's exported graph on every usable backend (ONNX Runtime CPU/CUDA, TensorRT), the
  factored DFT and, for reference, the direct (naive) DFT convolution;
- audiofront's torch module in eager mode (``algorithm="auto"``: ``torch.stft`` there);
- peers: ``torch.stft`` + ``abs()**2`` + mel matmul + dB (torchaudio's MelSpectrogram, written in
  plain torch), the same squaring ``re*re + im*im``, that route under ``torch.compile``, that route
  exported by ``torch.onnx`` (dynamo) as ONNX's own ``STFT`` op and run on ONNX Runtime (what a
  user tries first now that it exports), librosa, and nnAudio when installed.

Example::

    >>> cfg = LatencyConfig.quick_config()
    >>> rows = run_latency(cfg, workdir="/tmp/bench")      # list of result dicts
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from audiofront.bench.timing import set_threads, summarize, time_interleaved

__all__ = ["LatencyConfig", "Contender", "run_latency", "workload_rows", "SAMPLE_RATE", "N_FFT", "HOP", "N_MELS"]

SAMPLE_RATE, N_FFT, HOP, N_MELS = 32000, 512, 256, 128


@dataclasses.dataclass
class LatencyConfig:
    """What the latency benchmark runs: shapes, repeats, threads and which tasks."""

    batches: tuple[int, ...] = (1, 16)
    clips_s: tuple[float, ...] = (1.0, 10.0, 30.0)
    threads: int = 2
    repeats: int = 15
    min_repeats: int = 5
    warmup: int = 2
    budget_s: float = 2.5  # per shape and contender: fewer repeats for slow shapes
    tasks: tuple[str, ...] = ("frontend", "pipeline")
    workload: tuple[int, float] = (16, 30.0)  # (batch, seconds) of W
    # torch.compile's first call compiles C++ (minutes on 2 busy cores); the untimed first round pays it.
    compile_peer: bool = True

    @classmethod
    def quick_config(cls, threads: int = 2) -> "LatencyConfig":
        """Seconds in all: tiny shapes, for a smoke run."""
        return cls(batches=(1, 2), clips_s=(1.0,), threads=threads, repeats=3, min_repeats=2, warmup=1,
                   budget_s=0.2, workload=(2, 1.0), compile_peer=False)


@dataclasses.dataclass
class Contender:
    """One implementation on one backend; ``prepare(batch_audio)`` returns the call to time."""

    name: str
    backend: str
    task: str  # "frontend" or "pipeline"
    family: str  # "audiofront" or "peer"
    prepare: Callable[[np.ndarray], Callable[[], object]]
    output: Callable[[np.ndarray], np.ndarray] | None = None  # for the agreement check (frontend only)


def _mel_matrix() -> np.ndarray:
    from audiofront.frontend.functional import mel_filterbank

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 6 of 128 filters are empty at n_fft 512
        return mel_filterbank(sample_rate=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS)  # (n_freq, n_mels)


def _frontend(algorithm: str):
    from audiofront.frontend import bench_logmel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return bench_logmel(SAMPLE_RATE, n_mels=N_MELS, algorithm=algorithm).eval()


class _Pipeline:
    """Front-end then KapreConvNet on ``(batch, 1, n_mels, frames)``: audio in, logits out."""

    @staticmethod
    def build(algorithm: str):
        import torch

        from audiofront.export.classifier import FrontEndClassifier
        from audiofront.models import KapreConvNet

        torch.manual_seed(0)
        # FrontEndClassifier: its input spec knows the classifier's fewest frames (export checks there).
        return FrontEndClassifier(_frontend(algorithm), KapreConvNet(n_classes=88)).eval()


def _export(module, path: Path) -> Path:
    from audiofront.export import export_onnx

    if not path.exists():
        export_onnx(module, path, sample_rate=SAMPLE_RATE)
    return path


def _ort_session(path: Path, provider: str, threads: int):
    from audiofront.export.session import make_session

    # ORT's idle threads spin after each run; interleaved with torch they steal its cores
    # (measured: torch calls 100x slower). Without spinning ORT itself loses nothing here.
    return make_session(path, [provider], intra_op_threads=threads, inter_op_threads=1, spinning=False)


def _ort_contender(name, path, provider, backend, task, threads) -> Contender:
    session = _ort_session(path, provider, threads)
    input_name = session.get_inputs()[0].name

    def prepare(audio):
        return lambda: session.run(None, {input_name: audio})

    return Contender(name, backend, task, "audiofront", prepare,
                     output=lambda audio: session.run(None, {input_name: audio})[0])


def _torch_contender(name, module_fn, backend, task, family, device="cpu") -> Contender:
    import torch

    def call_of(audio):
        x = torch.from_numpy(audio).to(device)

        def call():
            with torch.inference_mode():
                out = module_fn(x)
            if device != "cpu":
                torch.cuda.synchronize()
            return out

        return call

    def output(audio):
        return call_of(audio)().float().cpu().numpy()

    return Contender(name, backend, task, family, call_of, output)


def _torchaudio_way(square: str, device: str = "cpu"):
    """torchaudio's MelSpectrogram + AmplitudeToDB in plain torch (torchaudio is not needed)."""
    import torch

    window = torch.hann_window(N_FFT, device=device)
    fb = torch.from_numpy(_mel_matrix()).float().to(device)

    def logmel(x):
        z = torch.stft(x, N_FFT, HOP, window=window, center=True, pad_mode="reflect", return_complex=True)
        power = z.abs() ** 2 if square == "abs" else z.real * z.real + z.imag * z.imag
        mel = torch.matmul(power.transpose(-1, -2), fb).transpose(-1, -2)
        return 10.0 * torch.log10(torch.clamp(mel, min=1e-10))

    return logmel


class _TorchStftLogmel:
    """The ``re*re + im*im`` peer as an ``nn.Module`` (window and filters as buffers), for export."""

    @staticmethod
    def build():
        import torch

        class TorchStftLogmel(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("window", torch.hann_window(N_FFT))
                self.register_buffer("fb", torch.from_numpy(_mel_matrix()).float())

            def forward(self, x):
                z = torch.stft(x, N_FFT, HOP, window=self.window, center=True, pad_mode="reflect", return_complex=True)
                power = z.real * z.real + z.imag * z.imag
                mel = torch.matmul(power.transpose(-1, -2), self.fb).transpose(-1, -2)
                return 10.0 * torch.log10(torch.clamp(mel, min=1e-10))

        return TorchStftLogmel().eval()


def _onnx_stft_contender(workdir: Path, threads: int) -> Contender:
    """``torch.stft`` exported by ``torch.onnx`` (dynamo): ONNX's ``STFT`` op, run on ONNX Runtime CPU."""
    import onnx
    import torch

    path = workdir / "logmel_onnx_stft.onnx"
    if not path.exists():
        dims = {0: torch.export.Dim("batch", min=1), 1: torch.export.Dim("time", min=N_FFT)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(_TorchStftLogmel.build(), (torch.from_numpy(_audio(2, 1.0)),), dynamo=True,
                                        opset_version=18, dynamic_shapes=(dims,), input_names=["audio"],
                                        output_names=["features"], verbose=False)
        program.save(str(path))
    if "STFT" not in {node.op_type for node in onnx.load(str(path)).graph.node}:
        raise RuntimeError("torch.onnx did not emit an STFT op")
    contender = _ort_contender("torch.stft exported as ONNX STFT (dynamo)", path, "CPUExecutionProvider",
                               "onnxruntime-cpu", "frontend", threads)
    contender.family = "peer"
    return contender


def _compiled_contender() -> Contender:
    """The ``re*re + im*im`` route under ``torch.compile`` (inductor; one graph for every shape)."""
    import torch

    compiled = torch.compile(_torchaudio_way("mul"), dynamic=True)
    return _torch_contender("torch.compile(torch.stft + re*re+im*im + mel)", compiled, "torch-cpu", "frontend", "peer")


def _librosa_contender() -> Contender | None:
    if importlib.util.find_spec("librosa") is None:
        return None
    import librosa

    def logmel(audio):
        mel = librosa.feature.melspectrogram(y=audio, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS,
                                             htk=True, norm=None, pad_mode="reflect")
        return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)

    def prepare(audio):
        return lambda: logmel(audio)

    return Contender("librosa melspectrogram + power_to_db", "numpy", "frontend", "peer", prepare, output=logmel)


def _nnaudio_contender(device="cpu") -> Contender | None:
    if importlib.util.find_spec("nnAudio") is None:
        return None
    import torch
    from nnAudio.features import MelSpectrogram

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mel = MelSpectrogram(sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, htk=True, norm=None,
                             verbose=False, trainable_mel=False, trainable_STFT=False).to(device).eval()

    def logmel(x):
        return 10.0 * torch.log10(torch.clamp(mel(x), min=1e-10))

    return _torch_contender("nnAudio MelSpectrogram + dB", logmel, f"torch-{device}", "frontend", "peer", device)


def _tensorrt_contender(onnx_path: Path, workdir: Path, task: str) -> Contender:
    """TensorRT through the runtime's runner; raises BackendUnavailable where it cannot run."""
    from audiofront.export import build_engine  # noqa: F401  (exists only where TensorRT code is built)
    from audiofront.runtime.tensorrt_runner import TensorRTRunner

    engine = build_engine(onnx_path, workdir / (onnx_path.stem + ".engine"))
    runner = TensorRTRunner(engine).activate()
    name = runner.input_specs[0].name

    def prepare(audio):
        return lambda: runner.infer({name: audio})

    return Contender(f"audiofront ({task}) TensorRT", "tensorrt", task, "audiofront", prepare)


def build_contenders(cfg: LatencyConfig, workdir: Path, notes: list[str]) -> list[Contender]:
    """Every contender this machine can run; what it cannot run is explained in ``notes``."""
    import torch

    from audiofront.runtime.backends import backend_status

    workdir.mkdir(parents=True, exist_ok=True)
    contenders: list[Contender] = []
    paths = {}
    if "frontend" in cfg.tasks:
        paths["frontend-factored"] = _export(_frontend("factored"), workdir / "logmel_factored.onnx")
        paths["frontend-direct"] = _export(_frontend("direct"), workdir / "logmel_direct.onnx")
        contenders += [
            _ort_contender("audiofront log-mel ONNX, factored DFT", paths["frontend-factored"], "CPUExecutionProvider",
                           "onnxruntime-cpu", "frontend", cfg.threads),
            _ort_contender("audiofront log-mel ONNX, direct DFT (naive)", paths["frontend-direct"],
                           "CPUExecutionProvider", "onnxruntime-cpu", "frontend", cfg.threads),
            _torch_contender("audiofront log-mel, torch eager (auto)", _frontend("auto"), "torch-cpu", "frontend",
                             "audiofront"),
            _torch_contender("torch.stft + abs()**2 + mel (torchaudio's way)", _torchaudio_way("abs"), "torch-cpu",
                             "frontend", "peer"),
            _torch_contender("torch.stft + re*re+im*im + mel", _torchaudio_way("mul"), "torch-cpu", "frontend", "peer"),
        ]
        try:
            contenders.append(_onnx_stft_contender(workdir, cfg.threads))
        except Exception as exc:  # an exporter or ORT without STFT: say so, measure the rest
            notes.append(f"torch.stft as ONNX STFT: {type(exc).__name__}: {str(exc)[:200]}")
        if cfg.compile_peer:
            contenders.append(_compiled_contender())
        else:
            notes.append("torch.compile peer: skipped (--quick or --no-compile; compiling takes minutes)")
        for name, peer in (("librosa", _librosa_contender()), ("nnAudio", _nnaudio_contender())):
            if peer is None:
                notes.append(f"{name}: not installed (pip install 'audiofront[bench]')")
            else:
                contenders.append(peer)
    if "pipeline" in cfg.tasks:
        paths["pipeline"] = _export(_Pipeline.build("factored"), workdir / "pipeline_factored.onnx")
        contenders += [
            _ort_contender("audiofront log-mel + KapreConvNet ONNX", paths["pipeline"], "CPUExecutionProvider",
                           "onnxruntime-cpu", "pipeline", cfg.threads),
            _torch_contender("audiofront log-mel + KapreConvNet, torch eager", _Pipeline.build("auto"), "torch-cpu",
                             "pipeline", "audiofront"),
        ]
    gpu_backends = {"onnxruntime-cuda": "CUDAExecutionProvider"}
    for backend, provider in gpu_backends.items():
        status = backend_status(backend)
        if not status.usable:
            notes.append(f"{backend}: {status.reason}")
            continue
        for key, path in paths.items():
            if key != "frontend-direct":
                task = key.split("-")[0]
                contenders.append(_ort_contender(f"audiofront {key} ONNX", path, provider, backend, task, cfg.threads))
    if torch.cuda.is_available():
        device = torch.cuda.get_device_name(0)
        notes.append(f"torch-cuda: {device}")
        contenders += [
            _torch_contender("audiofront log-mel, torch eager (auto)", _frontend("auto").cuda(), "torch-cuda",
                             "frontend", "audiofront", "cuda"),
            _torch_contender("torch.stft + abs()**2 + mel (torchaudio's way)", _torchaudio_way("abs", "cuda"),
                             "torch-cuda", "frontend", "peer", "cuda"),
        ]
    else:
        notes.append("torch-cuda: no CUDA device")
    status = backend_status("tensorrt")
    if status.usable:
        for key, path in paths.items():
            if key == "frontend-direct":
                continue
            try:
                contenders.append(_tensorrt_contender(path, workdir, key.split("-")[0]))
            except Exception as exc:  # report, keep measuring the rest
                notes.append(f"tensorrt ({key}): {type(exc).__name__}: {exc}")
    else:
        notes.append(f"tensorrt: {status.reason}")
    return contenders


def _audio(batch: int, seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, int(round(seconds * SAMPLE_RATE)))) * 0.1).astype(np.float32)


def run_latency(cfg: LatencyConfig, workdir: str | os.PathLike, *, progress: bool = True,
                shapes: list[tuple[int, float]] | None = None, notes: list[str] | None = None) -> list[dict]:
    """Time every contender on every shape; one row per (contender, batch, clip).

    Rows: ``name, backend, task, family, batch, clip_s, median_ms, p90_ms, min_ms, runs, threads``
    plus ``max_db_diff`` (vs audiofront's torch module, on W only, front-ends only).
    """
    from tqdm.auto import tqdm

    set_threads(cfg.threads)
    notes = [] if notes is None else notes
    contenders = build_contenders(cfg, Path(workdir), notes)
    shapes = shapes or [(b, s) for s in cfg.clips_s for b in cfg.batches]
    rows = []
    for batch, seconds in shapes:
        audio = _audio(batch, seconds)
        for task in cfg.tasks:
            group = [c for c in contenders if c.task == task]
            if not group:
                continue
            calls = {f"{c.name} [{c.backend}]": c.prepare(audio) for c in group}
            # One untimed call each to estimate the cost, then as many rounds as the budget allows.
            first = time_interleaved(calls, repeats=1, warmup=0)
            slowest = max(t[0] for t in first.values())
            repeats = int(np.clip(cfg.budget_s / max(slowest, 1e-4), cfg.min_repeats, cfg.repeats))
            bar = tqdm(total=(cfg.warmup + repeats) * len(calls), desc=f"{task} batch {batch} x {seconds:g} s",
                       disable=not progress, leave=False)
            times = time_interleaved(calls, repeats=repeats, warmup=max(cfg.warmup - 1, 0), settle=True,
                                     progress=bar)
            bar.close()
            reference = None
            if task == "frontend" and (batch, seconds) == tuple(cfg.workload):
                reference = next(c for c in group if c.name.startswith("audiofront log-mel, torch")).output(audio)
            for c in group:
                row = {"name": c.name, "backend": c.backend, "task": task, "family": c.family, "batch": batch,
                       "clip_s": seconds, "threads": cfg.threads, **summarize(times[f"{c.name} [{c.backend}]"])}
                if reference is not None and c.output is not None:
                    out = np.asarray(c.output(audio), dtype=np.float64)
                    row["max_db_diff"] = float(np.max(np.abs(out - reference)))
                rows.append(row)
    return rows


def workload_rows(rows: list[dict], cfg: LatencyConfig) -> list[dict]:
    """The front-end rows of workload W, fastest first."""
    batch, seconds = cfg.workload
    picked = [r for r in rows if r["task"] == "frontend" and r["batch"] == batch and r["clip_s"] == seconds]
    return sorted(picked, key=lambda r: r["median_ms"])
