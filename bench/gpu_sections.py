"""Sections 1-4 of the GPU check: GPU-marked tests, torch-CUDA parity, latency, the paper's experiment.

Each is ``section(ctx) -> dict`` (see :mod:`.gpu_context`); on ``ctx.device == "cpu"`` they run
the same code at tiny sizes, so CI exercises what a GPU machine will run. Section 5 (ONNX Runtime
CUDA) is in :mod:`.gpu_ort`.

Example::

    >>> ctx = CheckContext(device="cpu", quick=True, workdir=Path("/tmp/gpu-check"))
    >>> ctx.start(60.0)
    >>> parity_section(ctx)["rows"][0]["max_abs_diff"]
    0.0
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import inspect
import subprocess
import sys
import time
import warnings
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Callable

import numpy as np

from audiofront.bench.gpu_context import CheckContext, SectionFailed, SectionSkipped

__all__ = ["tests_section", "parity_section", "latency_section", "training_section", "junit_counts",
           "parity_audio"]

REPO_TESTS = Path(__file__).resolve().parents[1] / "tests"


# -- 1. GPU-marked tests -------------------------------------------------------------------------

def junit_counts(path: Path) -> dict:
    """Pass/fail/skip counts of a pytest JUnit XML file, with the failed names, skip reasons and the
    modules that could not be collected (``{module: last line of the error}``, not counted)."""
    root = ElementTree.parse(path).getroot()
    counts = {"total": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failed, skip_reasons, uncollected = [], {}, {}
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        kinds = {child.tag: child for child in case}
        if "error" in kinds and kinds["error"].get("message") == "collection failure":
            # A test module that cannot be imported here (a test-only dependency missing): not a test result.
            last = (kinds["error"].text or "").strip().splitlines()
            uncollected[case.get("name", "")] = last[-1] if last else ""
            continue
        counts["total"] += 1
        if "failure" in kinds:
            counts["failed"] += 1
            failed.append(name)
        elif "error" in kinds:
            counts["errors"] += 1
            failed.append(name)
        elif "skipped" in kinds:
            counts["skipped"] += 1
            message = kinds["skipped"].get("message", "")
            skip_reasons[message] = skip_reasons.get(message, 0) + 1
        else:
            counts["passed"] += 1
    return {**counts, "failed_tests": failed, "skip_reasons": skip_reasons, "uncollected": uncollected}


def tests_section(ctx: CheckContext, *, tests_path: Path | None = None, marker: str = "gpu") -> dict:
    """``pytest -m gpu`` over the project's tests in a subprocess, bounded by the section's budget."""
    if importlib.util.find_spec("pytest") is None:
        raise SectionSkipped("pytest is not installed here")
    path = Path(tests_path) if tests_path is not None else REPO_TESTS
    if not path.is_dir():
        raise SectionSkipped(f"no test folder at {path} (the check runs from a source checkout)")
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    xml = ctx.workdir / "gpu-tests.xml"
    xml.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", marker, "-p", "no:cacheprovider",
           "--continue-on-collection-errors", f"--junitxml={xml}", str(path)]
    timeout = max(ctx.time_left(), 5.0)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=path.parent)
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stdout or b"")[-2000:]
        raise SectionFailed(f"pytest ran past the section's budget ({timeout:.0f} s)",
                            {"command": " ".join(cmd), "output_tail": tail.decode(errors="replace")
                             if isinstance(tail, bytes) else tail}) from None
    result = {"command": " ".join(cmd), "returncode": done.returncode, "output_tail": done.stdout[-2000:]}
    if not xml.exists():
        raise SectionFailed(f"pytest exited {done.returncode} without a report: {done.stderr[-300:]}", result)
    result.update(junit_counts(xml))
    if result["total"] == 0:
        raise SectionFailed(f"no test carries the {marker!r} marker under {path}", result)
    if result["failed"] or result["errors"]:
        raise SectionFailed(f"{result['failed'] + result['errors']} of {result['total']} {marker}-marked tests "
                            f"failed: {', '.join(result['failed_tests'][:5])}", result)
    if done.returncode != 0 and not (done.returncode == 1 and result["uncollected"]):
        raise SectionFailed(f"pytest exited {done.returncode}", result)
    return result


# -- 2. parity of every preset (and W) on the device against the CPU -------------------------------

def _algorithms(factory: Callable) -> list[str | None]:
    """Every DFT algorithm when the preset takes ``algorithm``; [None] (its default) otherwise."""
    from audiofront.frontend.dft import DFT_ALGORITHMS

    try:
        takes = "algorithm" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        takes = False
    return sorted(set(DFT_ALGORITHMS) | {"auto"}) if takes else [None]


def parity_audio(rate: int, batch: int, seconds: float) -> np.ndarray:
    """Noise, silence and a full-scale sine, repeated to ``batch`` items: the floor and the top of dB."""
    n = int(round(rate * seconds))
    rng = np.random.default_rng(0)
    items = [rng.standard_normal(n) * 0.1, np.zeros(n), np.sin(2 * np.pi * 1000.0 * np.arange(n) / rate)]
    return np.stack([items[i % 3] for i in range(batch)]).astype(np.float32)


def _tf32(enabled: bool | None):
    """Set TF32 for matmul and cuDNN (None: leave the defaults); returns the previous settings."""
    import torch

    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    if enabled is not None:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    return before


def _compare(module, audio: np.ndarray, device: str) -> dict:
    """Max |device - CPU| of ``module``'s output; on CUDA with default TF32 and with TF32 off."""
    import torch

    x = torch.from_numpy(audio)
    with torch.no_grad():
        reference = module(x).double()
        moved = copy.deepcopy(module).to(device)
        row = {"output_shape": list(reference.shape), "output_min": float(reference.min()),
               "output_max": float(reference.max())}
        settings = {"max_abs_diff": None, "max_abs_diff_tf32_off": False} if device == "cuda" else {"max_abs_diff": None}
        for key, tf32 in settings.items():
            before = _tf32(tf32)
            try:
                out = moved(x.to(device)).double().cpu()
            finally:
                torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
            row[key] = float((out - reference).abs().max())
            row["finite"] = bool(torch.isfinite(out).all() and torch.isfinite(reference).all())
    return row


def parity_section(ctx: CheckContext) -> dict:
    """Every preset of :data:`audiofront.frontend.PRESETS` (each DFT algorithm it takes) and W."""
    from audiofront.bench.latency import LatencyConfig, _frontend
    from audiofront.frontend import PRESETS

    rows, not_run = [], []
    batch, seconds = (3, 0.5) if ctx.quick else (3, 1.0)
    work = [(name, factory, algorithm) for name, factory in PRESETS.items() for algorithm in _algorithms(factory)]
    w_batch, w_seconds = (LatencyConfig.quick_config() if ctx.quick else LatencyConfig()).workload
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # empty mel filters at n_fft 512
        for name, factory, algorithm in work:
            item = {"preset": name, "algorithm": algorithm or "(default)"}
            if ctx.time_left() <= 0:
                not_run.append({**item, "reason": "section budget spent"})
                continue
            try:
                module = factory(**({} if algorithm is None else {"algorithm": algorithm})).eval()
                rate = int(getattr(module, "sample_rate", 32000))
                row = _compare(module, parity_audio(rate, batch, seconds), ctx.device)
            except Exception as exc:  # a preset that cannot build or run here: say why, go on
                not_run.append({**item, "reason": f"{type(exc).__name__}: {exc}"})
                continue
            rows.append({**item, "batch": batch, "clip_s": seconds, "sample_rate": rate, **row})
        for algorithm in ("auto", "factored"):
            item = {"preset": "W (kapre-logmel, 128 mels)", "algorithm": algorithm}
            if ctx.time_left() <= 0:
                not_run.append({**item, "reason": "section budget spent"})
                continue
            audio = parity_audio(32000, w_batch, w_seconds)
            rows.append({**item, "batch": w_batch, "clip_s": w_seconds, "sample_rate": 32000,
                         **_compare(_frontend(algorithm), audio, ctx.device)})
    return {"device": ctx.device, "rows": rows, "not_run": not_run,
            "note": "max |device - CPU| of the output (dB for dB presets); CPU fp32 is the reference"}


# -- 3. latency on the device ---------------------------------------------------------------------

@dataclasses.dataclass
class _Contender:
    name: str
    backend: str
    family: str  # "audiofront" or "peer"
    prepare: Callable  # (x on device) -> call with no argument


def _eager(fn):
    import torch

    def prepare(x):
        def call():
            with torch.inference_mode():
                return fn(x)
        return call
    return prepare


def _cuda_graph(module):
    """Capture ``module(x)`` once per input shape; a call replays it (the input copy is not timed)."""
    import torch

    def prepare(x):
        static = x.clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.no_grad(), torch.cuda.stream(stream):
            for _ in range(3):  # warm-up outside capture: cuFFT plans, allocator
                module(static)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.no_grad(), torch.cuda.graph(graph):
            out = module(static)

        def call():
            graph.replay()
            return out
        return call
    return prepare


def _compiled(module):
    import torch

    compiled = torch.compile(module)

    def prepare(x):
        with torch.inference_mode():
            compiled(x)  # compiles (or recompiles for this shape) outside the timing
        return _eager(compiled)(x)
    return prepare


def _torchaudio_logmel(device: str):
    import torchaudio

    from audiofront.bench.latency import HOP, N_FFT, N_MELS, SAMPLE_RATE

    mel = torchaudio.transforms.MelSpectrogram(sample_rate=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS,
                                               mel_scale="htk", norm=None, power=2.0).to(device)
    to_db = torchaudio.transforms.AmplitudeToDB("power", top_db=None).to(device)
    return lambda x: to_db(mel(x))


def _contenders(ctx: CheckContext, notes: list[str]) -> list[_Contender]:
    import torch

    from audiofront.bench.latency import HOP, N_FFT, _frontend, _torchaudio_way

    dev = ctx.device
    eager = f"torch-{dev} eager"
    out = [
        _Contender("audiofront log-mel (auto: torch.stft)", eager, "audiofront", _eager(_frontend("auto").to(dev))),
        _Contender("audiofront log-mel (factored DFT)", eager, "audiofront", _eager(_frontend("factored").to(dev))),
    ]
    if ctx.cuda:
        out.append(_Contender("audiofront log-mel (auto: torch.stft)", "torch-cuda graph", "audiofront",
                              _cuda_graph(_frontend("auto").to(dev))))
        out.append(_Contender("audiofront log-mel (factored DFT)", "torch-cuda graph", "audiofront",
                              _cuda_graph(_frontend("factored").to(dev))))
    else:
        notes.append("CUDA graphs: need a CUDA device")
    if ctx.compile:
        # Under torch.compile 'auto' traces to the factored graph (is_tracing), so that is what compiles.
        out.append(_Contender("audiofront log-mel (factored DFT)", f"torch-{dev} compile", "audiofront",
                              _compiled(_frontend("factored").to(dev))))
    else:
        notes.append("torch.compile: off (--no-compile)")
    if importlib.util.find_spec("torchaudio") is None:
        notes.append("torchaudio MelSpectrogram: torchaudio is not installed")
    else:
        try:
            out.append(_Contender("torchaudio MelSpectrogram + AmplitudeToDB", eager, "peer",
                                  _eager(_torchaudio_logmel(dev))))
        except Exception as exc:  # a torchaudio that fails to load its library, say
            notes.append(f"torchaudio MelSpectrogram: {type(exc).__name__}: {exc}")
    window = torch.hann_window(N_FFT, device=dev)
    out += [
        _Contender("torch.stft + abs()**2 + mel (torchaudio's way)", eager, "peer", _eager(_torchaudio_way("abs", dev))),
        _Contender("torch.stft + re*re+im*im + mel", eager, "peer", _eager(_torchaudio_way("mul", dev))),
        _Contender("torch.stft alone (complex out)", eager, "peer",
                   _eager(lambda x: torch.stft(x, N_FFT, HOP, window=window, return_complex=True))),
    ]
    return out


def latency_section(ctx: CheckContext) -> dict:
    """Median / p90 per shape of our modules (eager, CUDA graph, compiled) and the peers on the device."""
    import torch

    from audiofront.bench.latency import LatencyConfig, _audio
    from audiofront.bench.timing import summarize, time_cuda_events, time_interleaved

    cfg = LatencyConfig.quick_config(ctx.threads) if ctx.quick else LatencyConfig(threads=ctx.threads)
    timer = time_cuda_events if ctx.cuda else time_interleaved
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        contenders = _contenders(ctx, notes)
    workload = tuple(cfg.workload)
    shapes = [workload] + [(b, s) for s in cfg.clips_s for b in cfg.batches if (b, s) != workload]
    max_repeats = 3 if ctx.quick else 50
    rows, broken = [], set()
    for index, (batch, seconds) in enumerate(shapes):
        share = ctx.time_left() / (len(shapes) - index)
        if share <= 0 and index > 0:  # W (the first) is measured even on an overdrawn budget
            notes.append(f"{batch} x {seconds:g} s: not measured, section budget spent")
            continue
        x = torch.from_numpy(_audio(batch, seconds)).to(ctx.device)
        calls = {}
        for c in contenders:
            key = f"{c.name} [{c.backend}]"
            if key in broken:
                continue
            started = time.monotonic()
            try:
                calls[key] = c.prepare(x)
            except Exception as exc:  # one contender failing (capture, compile) must not stop the rest
                broken.add(key)
                notes.append(f"{key}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
                continue
            prepared_s = time.monotonic() - started
            if prepared_s > 0.4 * share and index < len(shapes) - 1:  # torch.compile per shape: keep the budget
                broken.add(key)
                notes.append(f"{key}: measured at {batch} x {seconds:g} s only (preparing took {prepared_s:.0f} s)")
        first = timer(calls, repeats=1, warmup=1)
        per_round = sum(t[0] for t in first.values())
        repeats = int(np.clip(0.7 * share / max(per_round, 1e-5), 3, max_repeats))
        times = timer(calls, repeats=repeats, warmup=2)
        diffs = {}
        if (batch, seconds) == workload:
            outputs = {key: call() for key, call in calls.items()}
            reference = outputs.get(f"{contenders[0].name} [{contenders[0].backend}]")  # our eager module
            diffs = {key: float((out.double() - reference.double()).abs().max().cpu())
                     for key, out in outputs.items()
                     if reference is not None and not out.is_complex() and out.shape == reference.shape}
        for c in contenders:
            key = f"{c.name} [{c.backend}]"
            if key in calls:
                row = {"name": c.name, "backend": c.backend, "task": "frontend", "family": c.family,
                       "batch": batch, "clip_s": seconds, **summarize(times[key])}
                if key in diffs:
                    row["max_db_diff"] = diffs[key]
                rows.append(row)
        del calls
        if ctx.cuda:
            torch.cuda.empty_cache()
    w_rows = sorted((r for r in rows if (r["batch"], r["clip_s"]) == workload), key=lambda r: r["median_ms"])
    return {"device": ctx.device, "timer": "CUDA events" if ctx.cuda else "perf_counter", "rows": rows,
            "workload": w_rows, "workload_shape": {"batch": workload[0], "clip_s": workload[1]}, "notes": notes}


# -- 4. the paper's experiment on the device ------------------------------------------------------

PAPER_BATCHES, PAPER_EPOCHS = 512, 2


def training_section(ctx: CheckContext) -> dict:
    """KapreConvNet trained with and without the front-end inside, steps scaled to the budget."""
    from audiofront.bench.training import TrainConfig, run_paper_experiment

    algorithms = ("auto",) if ctx.quick else ("auto", "factored")
    runs, notes = {}, []
    for index, algorithm in enumerate(algorithms):
        share = ctx.time_left() / (len(algorithms) - index)
        if ctx.quick:
            cfg = dataclasses.replace(TrainConfig.quick_config(ctx.threads), seconds=0.5, device=ctx.device,
                                      algorithm=algorithm)
            pilot = None
        else:
            if share < 10:
                notes.append(f"algorithm {algorithm!r}: not run, section budget spent")
                continue
            started = time.monotonic()
            pilot = run_paper_experiment(TrainConfig(batches=3, epochs=1, warmup_steps=2, threads=ctx.threads,
                                                     device=ctx.device, algorithm=algorithm), progress=False)
            pair_s = sum(r["step_median_s"] for r in pilot["runs"].values())  # one step of each run
            left = share - (time.monotonic() - started)
            # 0.8: model building, warm-up steps and the spectrogram precompute are not in the steps.
            batches = int(np.clip(0.8 * left / (PAPER_EPOCHS * pair_s), 4, PAPER_BATCHES))
            cfg = TrainConfig(batches=batches, epochs=PAPER_EPOCHS, warmup_steps=3, threads=ctx.threads,
                              device=ctx.device, algorithm=algorithm)
        result = run_paper_experiment(cfg, progress=ctx.progress)
        if pilot is not None:
            result["pilot_step_median_s"] = {k: r["step_median_s"] for k, r in pilot["runs"].items()}
        result["paper_size"] = f"{PAPER_BATCHES} batches x {PAPER_EPOCHS} epochs"
        runs[algorithm] = result
    return {"device": ctx.device, "runs": runs, "notes": notes, "paper_overhead": 0.20,
            "note": "overhead = time(audio in) / time(spectrograms in) - 1; Choi et al. (2017) saw about +20 % "
                    "for Kapre on a GPU"}
