"""Section 5 of the GPU check: ONNX Runtime's CUDA provider — parity, latency with I/O binding, and
proof that the provider really ran.

ONNX Runtime falls back to the CPU silently; :class:`~audiofront.runtime.OnnxRuntimeRunner`
already refuses a session whose first provider is not the one asked for. This section checks one
level deeper: a profiled run lists the provider each node ran on (ORT's profiler records it per
kernel), and the check passes only when the compute nodes (Conv, MatMul, Gemm...) ran on
``CUDAExecutionProvider``. Run against the CPU provider (as CI does) the check fails, as it must.

Example::

    >>> check = provider_check("logmel.onnx", ["cuda", "cpu"], {"audio": x}, workdir=Path("/tmp"))
    >>> check["ran"], check["nodes_by_provider"]
    (True, {'CUDAExecutionProvider': 41, 'CPUExecutionProvider': 2})
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from audiofront.bench.gpu_context import CheckContext, SectionFailed, SectionSkipped

__all__ = ["onnxruntime_section", "provider_check", "nodes_by_provider", "judge_placement", "EXPECTED_PROVIDER",
           "COMPUTE_OPS"]

EXPECTED_PROVIDER = "CUDAExecutionProvider"
# The ops that carry the work. Elementwise ops (Mul, Add, Max...) are left out: ORT's CUDA provider
# rightly moves small shape arithmetic (int64 Mul/Add on lengths) to the CPU, and those are not work.
COMPUTE_OPS = frozenset({"Conv", "ConvTranspose", "MatMul", "Gemm", "STFT", "DFT", "Log", "Sqrt", "ReduceSum"})


def nodes_by_provider(profile: list[dict]) -> dict[str, dict[str, str]]:
    """``{provider: {node name: op type}}`` from an ONNX Runtime profile (its JSON event list)."""
    out: dict[str, dict[str, str]] = {}
    for event in profile:
        args = event.get("args") or {}
        if event.get("cat") != "Node" or "provider" not in args:
            continue
        name = event.get("name", "")
        for suffix in ("_kernel_time", "_fence_before", "_fence_after"):
            name = name.removesuffix(suffix)
        out.setdefault(args["provider"], {})[name] = args.get("op_name", "?")
    return out


def provider_check(model: str | Path, providers: list, feeds: dict[str, np.ndarray], *, workdir: Path,
                   expected: str = EXPECTED_PROVIDER) -> dict:
    """Run ``model`` once with ORT's profiler on; did ``expected`` run every compute node?

    Returns :func:`judge_placement`'s verdict and the session's providers.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(workdir) / f"ort-profile-{Path(model).stem}")
    session = ort.InferenceSession(str(model), options, providers=providers)
    session.run(None, feeds)
    profile_path = Path(session.end_profiling())
    try:
        placed = nodes_by_provider(json.loads(profile_path.read_text()))
    finally:
        profile_path.unlink(missing_ok=True)
    verdict = judge_placement(placed, expected)
    return {**verdict, "session_providers": session.get_providers()}


def judge_placement(placed: dict[str, dict[str, str]], expected: str = EXPECTED_PROVIDER) -> dict:
    """Did ``expected`` run every compute node of ``placed`` (``{provider: {node: op}}``)?

    Returns ``ran``, ``reason``, ``nodes_by_provider`` (counts) and ``compute_elsewhere``
    (``{node: "op on provider"}`` for compute nodes another provider ran).
    """
    elsewhere = {name: f"{op} on {provider}" for provider, nodes in placed.items() if provider != expected
                 for name, op in nodes.items() if op in COMPUTE_OPS}
    counts = {provider: len(nodes) for provider, nodes in placed.items()}
    if not placed.get(expected):
        ran, reason = False, f"no node ran on {expected}: nodes ran on {counts or 'no provider (empty profile)'}"
    elif elsewhere:
        ran, reason = False, f"{len(elsewhere)} compute nodes ran outside {expected}: {sorted(elsewhere.values())[:5]}"
    else:
        ran, reason = True, f"every compute node ran on {expected}"
    return {"ran": ran, "reason": reason, "nodes_by_provider": counts, "compute_elsewhere": elsewhere}


def _bound_call(runner, audio: np.ndarray, device: str):
    """Device-resident I/O binding: input copied to the device once, output left there."""
    import onnxruntime as ort

    session = runner.session
    binding = session.io_binding()
    value = ort.OrtValue.ortvalue_from_numpy(audio, device, 0)
    binding.bind_ortvalue_input(runner.input_specs[0].name, value)
    for spec in runner.output_specs:
        binding.bind_output(spec.name, device, 0)

    def call():
        session.run_with_iobinding(binding)  # returns once the device has finished (ORT synchronises)
        return value  # keeps the input alive as long as the call

    return call


def _preset_names(quick: bool) -> list[str]:
    from audiofront.frontend import PRESETS

    first = "kapre-logmel" if "kapre-logmel" in PRESETS else next(iter(PRESETS))
    names = [first] + [n for n in PRESETS if n != first]
    return names[:1] if quick else names


def onnxruntime_section(ctx: CheckContext, *, provider: str | None = None, exporter=None) -> dict:
    """Every preset exported and run on ``provider`` (default: CUDA, or the CPU on ``ctx.device == "cpu"``).

    ``exporter(module, path) -> path`` writes the ONNX file (default :func:`audiofront.export.export_onnx`).
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise SectionSkipped(f"onnxruntime is not installed ({exc})") from None
    import torch

    from audiofront.bench.gpu_sections import parity_audio
    from audiofront.export import export_onnx
    from audiofront.frontend import preset
    from audiofront.runtime import OnnxRuntimeRunner

    provider = provider or (EXPECTED_PROVIDER if ctx.cuda else "CPUExecutionProvider")
    available = ort.get_available_providers()
    if provider not in available:
        raise SectionSkipped(f"{provider} is not in this onnxruntime {ort.__version__} (available: "
                             f"{', '.join(available)}); install onnxruntime-gpu (the 'gpu' extra) in place of onnxruntime")
    providers = [provider] + (["CPUExecutionProvider"] if provider != "CPUExecutionProvider" else [])
    device = "cuda" if provider == EXPECTED_PROVIDER else "cpu"
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    rows, not_run, checks = [], [], {}
    latency_model = None
    for name in _preset_names(ctx.quick):
        if ctx.time_left() <= 0:
            not_run.append({"preset": name, "reason": "section budget spent"})
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = preset(name).eval()
                path = (exporter or export_onnx)(module, ctx.workdir / f"{name}.onnx")
            rate = int(module.sample_rate)
            audio = parity_audio(rate, 3, 1.0)
            with OnnxRuntimeRunner(path, providers) as on_device, OnnxRuntimeRunner(path) as on_cpu:
                feeds = {on_device.input_specs[0].name: audio}
                out = next(iter(on_device.infer(feeds).values())).astype(np.float64)
                cpu = next(iter(on_cpu.infer(feeds).values())).astype(np.float64)
            with torch.no_grad():
                ref = module(torch.from_numpy(audio)).double().numpy()
        except Exception as exc:  # export or session failure for one preset: record, go on
            not_run.append({"preset": name, "reason": f"{type(exc).__name__}: {exc}"})
            continue
        checks[name] = provider_check(path, providers, feeds, workdir=ctx.workdir)
        rows.append({"preset": name, "provider": provider, "batch": 3, "clip_s": 1.0,
                     "max_abs_diff_vs_ort_cpu": float(np.max(np.abs(out - cpu))),
                     "max_abs_diff_vs_torch_cpu": float(np.max(np.abs(out - ref))),
                     "provider_ran": checks[name]["ran"]})
        latency_model = latency_model or path
    result = {"onnxruntime": ort.__version__, "provider": provider, "available_providers": available,
              "parity": rows, "provider_checks": checks, "not_run": not_run,
              "latency": _latency(ctx, latency_model, providers, device) if latency_model else [],
              "timer": "perf_counter (ORT's run returns when the device is done)"}
    failed = {name: c["reason"] for name, c in checks.items() if not c["ran"]}
    if failed:
        raise SectionFailed(f"{EXPECTED_PROVIDER} did not really run: "
                            + "; ".join(f"{n}: {r}" for n, r in failed.items()), result)
    if not rows:
        raise SectionFailed("no preset ran: " + "; ".join(f"{i['preset']}: {i['reason']}" for i in not_run), result)
    return result


def _latency(ctx: CheckContext, model: Path, providers: list, device: str) -> list[dict]:
    from audiofront.bench.latency import LatencyConfig, _audio
    from audiofront.bench.timing import summarize, time_interleaved
    from audiofront.runtime import OnnxRuntimeRunner

    cfg = LatencyConfig.quick_config(ctx.threads) if ctx.quick else LatencyConfig(threads=ctx.threads)
    workload = tuple(cfg.workload)
    shapes = [workload] + [(b, s) for s in cfg.clips_s for b in cfg.batches if (b, s) != workload]
    rows = []
    with OnnxRuntimeRunner(model, providers, io_binding=True, intra_op_num_threads=ctx.threads) as runner:
        name = runner.input_specs[0].name
        for index, (batch, seconds) in enumerate(shapes):
            share = ctx.time_left() / (len(shapes) - index)
            if share <= 0 and index > 0:  # W (the first) is measured even on an overdrawn budget
                break
            audio = _audio(batch, seconds)
            calls = {"runner.infer (host in, host out)": lambda: runner.infer({name: audio}),
                     "I/O binding, device-resident in and out": _bound_call(runner, audio, device)}
            first = time_interleaved(calls, repeats=1, warmup=1)
            per_round = sum(t[0] for t in first.values())
            repeats = int(np.clip(0.7 * share / max(per_round, 1e-5), 3, 3 if ctx.quick else 50))
            times = time_interleaved(calls, repeats=repeats, warmup=2)
            for label, t in times.items():
                rows.append({"name": f"audiofront {model.stem} ONNX, {label}", "backend": runner.backend,
                             "task": "frontend", "family": "audiofront", "batch": batch, "clip_s": seconds,
                             **summarize(t)})
    return rows
