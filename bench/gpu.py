"""``audiofront bench gpu``: everything a GPU machine can tell us, in one bounded run (about 8 minutes).

Five sections, each guarded (a failure records its error and the run goes on) and each with a
time budget that scales its steps and rounds:

1. ``tests`` — ``pytest -m gpu`` over the project's tests; pass/fail/skip counts and skip reasons;
2. ``parity`` — every preset of :data:`audiofront.frontend.PRESETS` (each DFT algorithm) and
   workload W on torch-CUDA against the CPU: max abs difference (dB), TF32 default and off;
3. ``latency`` — W and the latency shapes on torch-CUDA timed with CUDA events: our modules
   (eager, CUDA graph, torch.compile) against torchaudio's MelSpectrogram and torch.stft;
4. ``training`` — the Kapre paper's experiment (KapreConvNet, batch 16 x 30 s at 32 kHz) with and
   without the front-end inside: the front-end's share of training time;
5. ``onnxruntime`` — where onnxruntime-gpu is installed: ORT-CUDA parity and latency with I/O
   binding, with a profiled run proving the CUDA provider ran the compute nodes.

Writes ``gpu-check.json`` and ``gpu-check.md`` (a section for docs/benchmarks.md) to ``--out``,
after every section, so a run cut short still leaves what it measured. Without a CUDA device it
says what it would run and exits 0. ``--device cpu`` (hidden, for CI) runs the sections' code at
tiny sizes on the CPU. Exit code 1 when a section failed.

Example::

    $ scripts/gpu-check.sh                     # installs audiofront (no deps) if needed, then runs
    $ python -m audiofront.bench.gpu --quick --out out/gpu-smoke
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

__all__ = ["SECTIONS", "BUDGETS_S", "run_gpu_check", "environment", "register", "gpu_check", "main"]

SECTIONS = ("tests", "parity", "latency", "training", "onnxruntime")
# Seconds per section on an H100/H200: about 7.8 minutes with start-up (a 10-minute call holds it).
BUDGETS_S = {"tests": 75.0, "parity": 40.0, "latency": 110.0, "training": 150.0, "onnxruntime": 90.0}
QUICK_BUDGETS_S = {"tests": 60.0, "parity": 15.0, "latency": 20.0, "training": 20.0, "onnxruntime": 30.0}
TITLES = {
    "tests": "GPU-marked tests (pytest -m gpu)",
    "parity": "torch-CUDA parity with the CPU: every preset and W",
    "latency": "Latency on torch-CUDA: our modules against torchaudio and torch.stft",
    "training": "The paper's experiment on the GPU: the front-end's share of training time",
    "onnxruntime": "ONNX Runtime CUDA: parity, latency with I/O binding, provider check",
}
PLANS = {
    "tests": "pytest -m gpu over tests/ in a subprocess (bounded by the budget); counts and skip reasons",
    "parity": "each preset in audiofront.frontend.PRESETS x each DFT algorithm it takes, on 3 x 1 s "
              "(noise, silence, full-scale sine), and W (16 x 30 s) for 'auto' and 'factored': max |CUDA - CPU|, "
              "TF32 default and off",
    "latency": "W first, then batch 1/16 x 1/10/30 s: audiofront log-mel eager (auto, factored), CUDA graph, "
               "torch.compile; torchaudio MelSpectrogram + AmplitudeToDB; torch.stft ways; CUDA-event median/p90",
    "training": "KapreConvNet on dummy 30 s audio at 32 kHz, batch 16, audio in vs spectrograms in, "
                "steps scaled to the budget (paper: 512 batches x 2 epochs), 'auto' then 'factored'",
    "onnxruntime": "each preset exported to ONNX, run on CUDAExecutionProvider vs CPU and torch; profiled run "
                   "proving the CUDA provider ran every compute node; W latency with I/O binding",
}
_PACKAGES = ("audiofront", "torch", "torchaudio", "onnxruntime", "onnxruntime-gpu", "numpy", "onnx", "onnxscript",
             "pytest", "tqdm", "triton")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _nvidia_smi() -> dict:
    if shutil.which("nvidia-smi") is None:
        return {"error": "nvidia-smi is not on PATH"}
    out = {}
    for key, cmd in (("query", ["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                                "--format=csv,noheader"]), ("list", ["nvidia-smi", "-L"])):
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            out[key] = done.stdout.strip() or done.stderr.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            out[key] = f"{type(exc).__name__}: {exc}"
    if "," in out.get("query", ""):
        out["driver"] = out["query"].splitlines()[0].split(",")[1].strip()
    return out


def environment() -> dict:
    """Date (UTC), machine, GPU (torch and nvidia-smi), driver, versions, TF32 settings."""
    import torch

    info = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "versions": {p: _version(p) for p in _PACKAGES}, "torch_cuda": torch.version.cuda, "gpu": None,
            "nvidia_smi": _nvidia_smi()}
    import audiofront

    info["versions"]["audiofront"] = audiofront.__version__
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = {"name": torch.cuda.get_device_name(0), "capability": list(torch.cuda.get_device_capability(0)),
                       "memory_gib": round(props.total_memory / 2**30, 1), "count": torch.cuda.device_count(),
                       "cudnn": torch.backends.cudnn.version()}
    info["tf32"] = {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32}
    try:
        import onnxruntime

        info["onnxruntime_providers"] = onnxruntime.get_available_providers()
    except ImportError:
        info["onnxruntime_providers"] = None
    return info


# Where each section's function lives; imported when the section runs, so one missing module
# (numpy, onnx...) fails its sections, not the whole check.
_FUNCTIONS = {"tests": "gpu_sections:tests_section", "parity": "gpu_sections:parity_section",
              "latency": "gpu_sections:latency_section", "training": "gpu_sections:training_section",
              "onnxruntime": "gpu_ort:onnxruntime_section"}


def _section_function(name: str):
    module, function = _FUNCTIONS[name].split(":")
    return getattr(importlib.import_module(f"audiofront.bench.{module}"), function)


def _run_section(name, ctx, budget_s: float) -> dict:
    from audiofront.bench.gpu_context import SectionFailed, SectionSkipped

    entry = {"title": TITLES[name], "budget_s": round(budget_s, 1)}
    started = time.monotonic()
    ctx.start(budget_s)
    try:
        entry.update(status="ok", reason="", result=_section_function(name)(ctx))
    except SectionSkipped as exc:
        entry.update(status="skipped", reason=str(exc), would_run=PLANS[name])
    except SectionFailed as exc:
        entry.update(status="failed", reason=str(exc), result=exc.result)
    except Exception as exc:  # any error: record it, run the next section
        entry.update(status="failed", reason=f"{type(exc).__name__}: {exc}",
                     traceback=traceback.format_exc(limit=8)[-3000:])
    entry["seconds"] = round(time.monotonic() - started, 1)
    return entry


def run_gpu_check(*, device: str = "cuda", quick: bool = False, sections=SECTIONS, out: Path | None = None,
                  budget_scale: float = 1.0, threads: int | None = None, compile: bool = True,
                  progress: bool = False, command: str = "") -> dict:
    """Run the sections; return the result (and write JSON + Markdown into ``out`` after each section)."""
    from audiofront.bench.gpu_context import CheckContext, cuda_unavailable_reason
    from audiofront.bench.gpu_report import markdown

    quick = quick or device == "cpu"  # the CPU runs the code at tiny sizes only
    result = {"schema": "audiofront-gpu-check/1", "command": command, "device": device, "quick": quick,
              "environment": environment(), "sections": {}}
    missing = cuda_unavailable_reason() if device == "cuda" else None
    budgets = QUICK_BUDGETS_S if quick else BUDGETS_S
    workdir = Path(tempfile.mkdtemp(prefix="audiofront-gpu-check-"))
    ctx = CheckContext(device=device, quick=quick, workdir=workdir, threads=threads or min(os.cpu_count() or 2, 8),
                       compile=compile, progress=progress)
    try:
        for name in SECTIONS:
            if name not in sections:
                result["sections"][name] = {"title": TITLES[name], "status": "skipped",
                                            "reason": "not selected (--sections)", "would_run": PLANS[name]}
            elif missing is not None:
                result["sections"][name] = {"title": TITLES[name], "status": "skipped",
                                            "reason": f"no CUDA device: {missing}", "would_run": PLANS[name]}
            elif name == "tests" and device != "cuda":
                result["sections"][name] = {"title": TITLES[name], "status": "skipped",
                                            "reason": "device forced to cpu: the GPU-marked tests need CUDA",
                                            "would_run": PLANS[name]}
            else:
                print(f"gpu check: {name} (budget {budgets[name] * budget_scale:.0f} s)", file=sys.stderr, flush=True)
                result["sections"][name] = _run_section(name, ctx, budgets[name] * budget_scale)
                print(f"gpu check: {name} {result['sections'][name]['status']} "
                      f"in {result['sections'][name]['seconds']} s", file=sys.stderr, flush=True)
            if out is not None:
                _write(result, out, markdown)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _write(result: dict, out: Path, markdown) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu-check.json").write_text(json.dumps(result, indent=1, default=str))
    (out / "gpu-check.md").write_text(markdown(result))


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out/gpu-check", metavar="DIR",
                        help="folder for gpu-check.json and gpu-check.md (default out/gpu-check)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of every section")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {','.join(SECTIONS)} (default all)")
    parser.add_argument("--budget-scale", type=float, default=1.0,
                        help="multiply every section's time budget (default 1.0: about 8 minutes in all)")
    parser.add_argument("--threads", type=int, default=None, help="torch / ORT CPU threads (default: min(cores, 8))")
    parser.add_argument("--no-compile", action="store_true", help="leave the torch.compile contenders out")
    parser.add_argument("--progress", action="store_true", help="progress bars")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"), help=argparse.SUPPRESS)  # cpu: CI
    parser.set_defaults(func=gpu_check)


def register(subparsers) -> None:
    """Add the ``gpu`` subcommand (under ``audiofront bench``)."""
    parser = subparsers.add_parser("gpu", help="the GPU check: tests, parity, latency, training, ORT-CUDA",
                                   description=__doc__.split("\n\n")[0])
    _add_arguments(parser)


def gpu_check(args) -> int:
    from audiofront.errors import ConfigError

    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown or not sections:
        raise ConfigError(f"--sections must name some of {', '.join(SECTIONS)}, got {args.sections!r}")
    if not 0.05 <= args.budget_scale <= 10:
        raise ConfigError(f"--budget-scale must be in [0.05, 10], got {args.budget_scale}")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    out = Path(args.out)
    result = run_gpu_check(device=args.device, quick=args.quick, sections=sections, out=out,
                           budget_scale=args.budget_scale, threads=args.threads, compile=not args.no_compile,
                           progress=args.progress, command=_command(args))
    print((out / "gpu-check.md").read_text())
    for name, entry in result["sections"].items():
        print(f"{name}: {entry['status']}" + (f" ({entry['reason']})" if entry.get("reason") else ""))
    print(f"json: {out / 'gpu-check.json'}\nmarkdown: {out / 'gpu-check.md'}")
    return 1 if any(e["status"] == "failed" for e in result["sections"].values()) else 0


def _command(args) -> str:
    """The command line that reproduces this run, rebuilt from the parsed options."""
    parts = ["audiofront bench gpu"]
    if args.device != "cuda":
        parts.append(f"--device {args.device}")
    if args.quick:
        parts.append("--quick")
    if args.sections != ",".join(SECTIONS):
        parts.append(f"--sections {args.sections}")
    if args.budget_scale != 1.0:
        parts.append(f"--budget-scale {args.budget_scale:g}")
    if args.threads is not None:
        parts.append(f"--threads {args.threads}")
    if args.no_compile:
        parts.append("--no-compile")
    return " ".join(parts + [f"--out {args.out}"])


def main(argv: list[str] | None = None) -> int:
    """``python -m audiofront.bench.gpu``: the same command without the rest of the CLI's imports."""
    from audiofront.errors import AudiofrontError

    parser = argparse.ArgumentParser(prog="audiofront bench gpu", description=__doc__.split("\n\n")[0])
    _add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return gpu_check(args)
    except AudiofrontError as exc:
        print(f"audiofront bench gpu: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
