"""The GPU check's result as Markdown: a section ready for docs/benchmarks.md.

Every section appears, in order, with its status; a skipped one says why and what it would run,
a failed one its reason, so the page never shows a figure that was not measured.

Example::

    >>> text = markdown(json.loads(Path("out/gpu-check/gpu-check.json").read_text()))
    >>> text.splitlines()[0]
    '## GPU check: NVIDIA H200 (2026-12-02)'
"""

from __future__ import annotations

from audiofront.bench.report import latency_table, training_table

__all__ = ["markdown", "machine_line"]


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else (f"{value:.2f}" if value >= 0.1 else f"{value:.3f}")


def _diff(value) -> str:
    return "-" if value is None else f"{value:.1e}"


def machine_line(env: dict) -> str:
    gpu = env.get("gpu") or {}
    smi = env.get("nvidia_smi") or {}
    v = env.get("versions") or {}
    ort = v.get("onnxruntime-gpu") and f"onnxruntime-gpu {v['onnxruntime-gpu']}" or (
        f"onnxruntime {v['onnxruntime']}" if v.get("onnxruntime") else "no onnxruntime")
    device = (f"{gpu['name']} ({gpu.get('memory_gib')} GiB, capability {'.'.join(map(str, gpu.get('capability', [])))})"
              if gpu else "no CUDA device")
    return (f"Device: {device}; driver {smi.get('driver', '-')}; CUDA {env.get('torch_cuda') or '-'} (torch), "
            f"cuDNN {gpu.get('cudnn', '-')}; Python {env.get('python')}, torch {v.get('torch')}, "
            f"torchaudio {v.get('torchaudio') or '-'}, {ort}, audiofront {v.get('audiofront')}; "
            f"{env.get('cpu_count')} CPU cores; TF32 matmul {env['tf32']['matmul']}, cuDNN {env['tf32']['cudnn']}; "
            f"date {env.get('date')}.")


def _tests(r: dict) -> list[str]:
    lines = [f"{r['passed']} passed, {r['failed']} failed, {r['errors']} errors, {r['skipped']} skipped "
             f"of {r['total']} (`{r['command']}`)."]
    lines += [f"- failed: `{name}`" for name in r.get("failed_tests", [])]
    lines += [f"- skipped ({n}): {reason}" for reason, n in r.get("skip_reasons", {}).items()]
    lines += [f"- not collected (cannot import here): `{module}`: {error}" for module, error in r.get("uncollected", {}).items()]
    return lines


def _parity(r: dict) -> list[str]:
    lines = [r["note"] + ".", "",
             "| preset | algorithm | input | output range | max abs diff | max abs diff, TF32 off |",
             "|---|---|---|---|---:|---:|"]
    for row in r["rows"]:
        finite = "" if row.get("finite", True) else " (NOT FINITE)"
        lines.append(f"| {row['preset']} | {row['algorithm']} | {row['batch']} x {row['clip_s']:g} s at "
                     f"{row['sample_rate']} Hz | {row['output_min']:.1f} .. {row['output_max']:.1f} | "
                     f"{_diff(row['max_abs_diff'])}{finite} | {_diff(row.get('max_abs_diff_tf32_off'))} |")
    lines += [f"- not run: {i['preset']} ({i['algorithm']}): {i['reason']}" for i in r.get("not_run", [])]
    return lines


def _latency(r: dict) -> list[str]:
    w = r["workload_shape"]
    lines = [f"Median / p90 ms, timer: {r['timer']}, warm-up excluded, contenders interleaved round by round.", "",
             latency_table(r["rows"], task="frontend"), "",
             f"Workload W (batch {w['batch']} x {w['clip_s']:g} s), fastest first; max abs dB diff from audiofront's "
             "eager module on the same device:", "",
             "| implementation | backend | median ms | p90 ms | max abs dB diff |", "|---|---|---:|---:|---:|"]
    lines += [f"| {row['name']} | {row['backend']} | {_ms(row['median_ms'])} | {_ms(row['p90_ms'])} | "
              f"{_diff(row.get('max_db_diff'))} |" for row in r["workload"]]
    if r.get("notes"):
        lines += ["", "Not measured: " + "; ".join(r["notes"]) + "."]
    return lines


def _training(r: dict) -> list[str]:
    lines = [r["note"] + "."]
    for algorithm, run in r["runs"].items():
        lines += ["", f"Front-end algorithm `{algorithm}` ({run['batches_per_epoch']} batches x {run['epochs']} "
                      f"epochs; the paper's size: {run['paper_size']}):", "", training_table(run)]
    lines += [f"- {note}" for note in r.get("notes", [])]
    return lines


def _onnxruntime(r: dict) -> list[str]:
    lines = [f"onnxruntime {r['onnxruntime']}, provider {r['provider']} (available: "
             f"{', '.join(r['available_providers'])}).", "",
             "| preset | input | max abs diff vs ORT-CPU | max abs diff vs torch CPU | provider really ran |",
             "|---|---|---:|---:|---|"]
    for row in r["parity"]:
        check = r["provider_checks"].get(row["preset"], {})
        lines.append(f"| {row['preset']} | {row['batch']} x {row['clip_s']:g} s | "
                     f"{_diff(row['max_abs_diff_vs_ort_cpu'])} | {_diff(row['max_abs_diff_vs_torch_cpu'])} | "
                     f"{'yes' if row['provider_ran'] else 'NO'}: {check.get('reason', '')} "
                     f"(nodes {check.get('nodes_by_provider', {})}) |")
    lines += [f"- not run: {i['preset']}: {i['reason']}" for i in r.get("not_run", [])]
    if r.get("latency"):
        lines += ["", f"Latency, median / p90 ms (timer: {r['timer']}):", "", latency_table(r["latency"], task="frontend")]
    return lines


_BODIES = {"tests": _tests, "parity": _parity, "latency": _latency, "training": _training, "onnxruntime": _onnxruntime}


def markdown(result: dict) -> str:
    """All five sections, numbered, with status; the machine line and command on top."""
    env = result["environment"]
    gpu = (env.get("gpu") or {}).get("name") or ("CPU (device forced to cpu)" if result["device"] == "cpu"
                                                 else "no CUDA device")
    lines = [f"## GPU check: {gpu} ({env['date'][:10]})", "", machine_line(env), "",
             f"Command: `{result['command']}`" + (" (quick: tiny sizes)" if result.get("quick") else ""), "",
             "| # | section | status | seconds | reason |", "|---|---|---|---:|---|"]
    for i, (name, entry) in enumerate(result["sections"].items(), 1):
        lines.append(f"| {i} | {entry['title']} | {entry['status']} | {entry.get('seconds', '-')} | "
                     f"{entry.get('reason', '')} |")
    for i, (name, entry) in enumerate(result["sections"].items(), 1):
        lines += ["", f"### {i}. {entry['title']}", ""]
        if entry["status"] == "skipped":
            lines.append(f"Skipped: {entry['reason']}. Would run: {entry['would_run']}.")
            continue
        if entry["status"] == "failed":
            lines.append(f"**Failed**: {entry['reason']}")
        if entry.get("result"):
            try:
                lines += ([""] if entry["status"] == "failed" else []) + _BODIES[name](entry["result"])
            except (KeyError, TypeError) as exc:  # a partial result (failure mid-way): show the rest
                lines.append(f"(partial result, not tabulated: {type(exc).__name__}: {exc})")
    return "\n".join(lines) + "\n"
