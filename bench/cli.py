"""``audiofront bench``: the paper's training experiment and inference latency against the peers.

Prints Markdown tables (paper experiment, latency per shape, workload W with the target check),
writes a PNG plot with ``--plot`` and every number as JSON with ``--json``. Workload W is run
a second time in a subprocess with ``GLIBC_TUNABLES=glibc.malloc.mmap_max=0`` (the allocator
setting that stops torch's and numpy's page faults on fresh large buffers) unless
``--no-tuned-malloc``.

Example::

    $ audiofront bench --threads 2 --json bench.json --plot bench.png
    $ audiofront bench --quick          # tiny sizes, a smoke run (about a minute)
    $ audiofront bench --full           # the paper's 512 batches x 2 epochs (for a GPU)
    $ audiofront bench gpu              # the GPU check (audiofront.bench.gpu; scripts/gpu-check.sh)
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from audiofront.arguments import add_backend_argument, add_threads_argument

__all__ = ["register", "bench", "add_serving_arguments"]

TUNED_MALLOC = "glibc.malloc.mmap_max=0"


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="benchmark: the paper's training experiment and inference latency",
                                   description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the paper's training size: 512 batches x 2 epochs")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run (about a minute, mostly ONNX export)")
    add_threads_argument(parser, default=2, what="torch and ONNX Runtime intra-op threads")
    parser.add_argument("--json", metavar="FILE", help="write every result as JSON")
    parser.add_argument("--plot", metavar="FILE", help="write the latency plot (PNG)")
    parser.add_argument("--skip-training", action="store_true", help="latency only")
    parser.add_argument("--skip-latency", action="store_true", help="the training experiment only")
    parser.add_argument("--no-tuned-malloc", action="store_true",
                        help=f"do not rerun workload W with GLIBC_TUNABLES={TUNED_MALLOC}")
    parser.add_argument("--frontend-only", action="store_true",
                        help="latency of the front-end alone (leave out front-end + classifier)")
    parser.add_argument("--no-compile", action="store_true",
                        help="leave out the torch.compile peer (its first call compiles for minutes)")
    parser.add_argument("--workdir", metavar="DIR", help="where the exported ONNX files go (default: a temp dir)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--workload-only", action="store_true", help=argparse.SUPPRESS)  # the tuned-malloc rerun
    parser.add_argument("--streaming", action="store_true",
                        help="only the streaming benchmark: per-chunk latency and real-time factor, 10/20/100 ms chunks,\n"
                             "1 and 64 streams, ONNX Runtime vs torch vs kaldi-native-fbank (see audiofront.bench.streaming)")
    parser.set_defaults(func=bench)
    from audiofront.bench import gpu  # `audiofront bench gpu`: the GPU check (imports torch only when run)

    gpu.register(parser.add_subparsers(dest="bench_command", metavar="{gpu}"))

    parser = subparsers.add_parser(
        "bench-serving", help="serving throughput: micro-batching on vs off, loopback HTTP load",
        description="Start audiofront serve in a child process per setting and load it with concurrent one-window "
                    "requests (or, with --in-process, the micro-batcher alone); prints a table of requests/s.",
    )
    add_serving_arguments(parser)
    parser.set_defaults(func=_serving)


def add_serving_arguments(parser) -> None:
    """The serving benchmark's options (``audiofront bench-serving``, ``python -m audiofront.bench.serving``)."""
    parser.add_argument("--model", default=None, help="pipeline artifact (default: the shipped piano model, which "
                                                      "also runs on --backend torch-cpu)")
    parser.add_argument("--max-batch", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--max-wait-ms", type=float, nargs="+", default=[5.0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=1024)
    parser.add_argument("--warmup", type=int, default=128)
    add_backend_argument(parser)
    add_threads_argument(parser, what="onnxruntime intra-op threads in the server")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all settings; the median is shown")
    parser.add_argument("--in-process", action="store_true",
                        help="measure the micro-batcher over the pipeline alone (no HTTP, no child process)")


def _serving(args) -> int:
    from audiofront.bench.serving import run

    return run(args)


def _machine(threads: int) -> dict:
    import onnxruntime
    import torch

    flags = ""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        flags = "AVX-512" if "avx512f" in cpuinfo else ("AVX2" if "avx2" in cpuinfo else "")
    except OSError:
        pass
    return {
        "date": datetime.date.today().isoformat(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "cpu_count": os.cpu_count(),
        "cpu_flags": flags,
        "threads": threads,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "malloc": os.environ.get("GLIBC_TUNABLES", "default"),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def _tuned_rerun(args, workdir: str) -> dict | None:
    """Workload W again in a fresh process with the tuned allocator; its JSON, or None on failure."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "tuned.json"
        cmd = [sys.executable, "-m", "audiofront.cli", "bench", "--workload-only", "--skip-training",
               "--no-tuned-malloc", "--threads", str(args.threads), "--workdir", workdir, "--json", str(out),
               "--no-progress"] + (["--quick"] if args.quick else []) + (["--no-compile"] if args.no_compile else [])
        env = dict(os.environ, GLIBC_TUNABLES=TUNED_MALLOC)
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0 or not out.exists():
            print(f"tuned-malloc rerun failed ({done.returncode}): {done.stderr[-500:]}", file=sys.stderr)
            return None
        return json.loads(out.read_text())


def bench(args) -> int:
    from audiofront.errors import ConfigError

    if args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    if args.full and args.quick:
        raise ConfigError("--full and --quick exclude each other")
    progress = not args.no_progress
    if args.streaming:
        return _streaming(args)
    invoked = " ".join(sys.argv[1:]) if sys.argv and "audiofront" in sys.argv[0] else "bench (called from Python)"
    results: dict = {"machine": _machine(args.threads), "command": "audiofront " + invoked}
    workdir = args.workdir or tempfile.mkdtemp(prefix="audiofront-bench-")
    try:
        _run(args, results, workdir, progress)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
        print(f"json: {args.json}")
    return 0


def _streaming(args) -> int:
    from audiofront.bench.streaming import markdown_table, run_streaming

    seconds = 1.0 if args.quick else 4.0
    rows = run_streaming(seconds=seconds, threads=args.threads, workdir=args.workdir)
    print(f"streaming fbank, {seconds:g} s per stream, {args.threads} threads; {_machine(args.threads)}")
    print(markdown_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": _machine(args.threads), "streaming": rows}, indent=1))
        print(f"json: {args.json}")
    return 0


def _run(args, results: dict, workdir: str, progress: bool) -> None:
    from audiofront.bench import report
    from audiofront.bench.latency import LatencyConfig, run_latency, workload_rows
    from audiofront.bench.training import TrainConfig, run_paper_experiment

    if not args.skip_training:
        cfg = (TrainConfig.quick_config(args.threads) if args.quick else
               TrainConfig.full_config(args.threads) if args.full else TrainConfig(threads=args.threads))
        results["training"] = run_paper_experiment(cfg, progress=progress)
        print("## Paper experiment: KapreConvNet training, front-end inside vs precomputed\n")
        print(report.training_table(results["training"]) + "\n")

    if not args.skip_latency:
        cfg = LatencyConfig.quick_config(args.threads) if args.quick else LatencyConfig(threads=args.threads)
        if args.no_compile:
            cfg.compile_peer = False
        if args.frontend_only:
            cfg.tasks = ("frontend",)
        notes: list[str] = []
        if args.workload_only:
            cfg.tasks = ("frontend",)
            shapes = [tuple(cfg.workload)]
        else:
            shapes = None
        rows = run_latency(cfg, workdir, progress=progress, shapes=shapes, notes=notes)
        w_rows = workload_rows(rows, cfg)
        ran = list(dict.fromkeys(f"{r['name']} [{r['backend']}]" for r in rows))
        results.update(latency=rows, notes=notes, workload=w_rows, target=report.check_target(w_rows),
                       shapes=report.check_shapes(rows), contenders=ran,
                       workload_shape={"batch": cfg.workload[0], "clip_s": cfg.workload[1]})
        load = results["machine"]["load_average"]
        print("Contenders that ran: " + "; ".join(ran) + "\n")
        print(f"Load average at the start (1/5/15 min): {load}\n")
        if not args.workload_only:
            print(f"## Inference latency, median / min ms ({cfg.threads} threads; warm-up excluded; "
                  f"contenders interleaved round by round, each timed call right after an untimed one of its own)\n")
            print("### Front-end alone (log-mel, n_fft 512, hop 256, 128 mels, dB)\n")
            print(report.latency_table(rows, task="frontend") + "\n")
            if "pipeline" in cfg.tasks:
                print("### Front-end + KapreConvNet (88 classes)\n")
                print(report.latency_table(rows, task="pipeline") + "\n")
            print("Not measured here: " + "; ".join(notes) + "\n")
            print("### Per shape: the ORT-CPU graph against the fastest CPU peer (best of rounds)\n")
            print(report.shapes_table(results["shapes"]) + "\n")
        batch, seconds = cfg.workload
        print(f"### Workload W: log-mel, batch {batch} x {seconds:g} s, malloc {results['machine']['malloc']}\n")
        print(report.workload_table(w_rows) + "\n")
        print(_target_line(results["target"]) + "\n")
        if not args.no_tuned_malloc and not args.workload_only:
            tuned = _tuned_rerun(args, workdir)
            if tuned is not None:
                results["workload_tuned_malloc"] = tuned["workload"]
                results["target_tuned_malloc"] = tuned["target"]
                print(f"### Workload W again with GLIBC_TUNABLES={TUNED_MALLOC} (fresh process)\n")
                print(report.workload_table(tuned["workload"]) + "\n")
                print(_target_line(tuned["target"]) + "\n")
        if args.plot and importlib.util.find_spec("matplotlib") is None:
            print("plot: not written, matplotlib is not installed (pip install 'audiofront[bench]')")
        elif args.plot:
            path = report.plot_latency(rows, args.plot, title=f"log-mel front-end, {cfg.threads} threads")
            print(f"plot: {path}")


def _target_line(target: dict) -> str:
    from audiofront.bench.report import TARGET_RATIO

    if "ours_ms" not in target:
        return f"Target: not checked ({target['reason']})."
    return (f"Target (ORT-CPU graph <= {TARGET_RATIO} x the fastest CPU peer, best of rounds): "
            f"{'MET' if target['met'] else 'NOT MET'} - ours {target['ours_ms']:.1f} ms, fastest peer "
            f"{target['fastest_peer']} {target['fastest_peer_ms']:.1f} ms: {target['ratio_min']:.2f}x "
            f"(medians: {target['ours_median_ms']:.1f} vs {target['fastest_peer_median_ms']:.1f} ms, "
            f"{target['ratio_median']:.2f}x).")
