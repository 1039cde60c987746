"""``audiofront doctor``: which backends run on this machine, and why the others do not.

Example::

    $ audiofront doctor
    backend               usable  reason
    tensorrt              no      TensorRT is not installed (...)
    ...
    onnxruntime-cpu       yes     onnxruntime 1.32.0
    auto picks: onnxruntime-cpu for .onnx pipelines, torch-cpu for torch modules
"""

from __future__ import annotations

import argparse
import json
import platform

__all__ = ["register", "doctor", "doctor_report"]


def doctor_report() -> dict:
    """Backend statuses and what ``backend="auto"`` would pick for each kind of pipeline."""
    from audiofront import __version__
    from audiofront.errors import BackendUnavailable
    from audiofront.runtime.backends import UNSUPPORTED, available_backends, choose_backend

    statuses = available_backends(refresh=True)
    picks = {}
    for kind, unsupported in UNSUPPORTED.items():
        try:
            picks[kind] = choose_backend("auto", unsupported=unsupported, statuses=statuses).name
        except BackendUnavailable:
            picks[kind] = None
    return {
        "audiofront": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "backends": [{"name": s.name, "usable": s.usable, "reason": s.reason} for s in statuses],
        "auto": picks,
    }


def doctor(args: argparse.Namespace) -> int:
    report = doctor_report()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"audiofront {report['audiofront']}, Python {report['python']}, {report['platform']}")
    width = max(len(b["name"]) for b in report["backends"]) + 2
    print(f"{'backend':<{width}}{'usable':<8}reason")
    for b in report["backends"]:
        print(f"{b['name']:<{width}}{'yes' if b['usable'] else 'no':<8}{b['reason']}")
    auto = report["auto"]
    print(
        "auto picks: "
        + ", ".join(f"{auto[k] or 'nothing'} for {what}" for k, what in
                    (("onnx", ".onnx pipelines"), ("engine", ".engine pipelines"), ("torch", "torch modules")))
    )
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "doctor", help="list the inference backends usable here and why the others are not",
        description="Probe TensorRT, ONNX Runtime (CUDA, TensorRT, CPU providers) and torch (CUDA, CPU); "
        "print each backend, whether it is usable, and why not. Always exits 0.",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=doctor)
