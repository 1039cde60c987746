"""The ``audiofront`` command: a thin argparse layer over the package's API.

Each subcommand lives beside the code it drives, in a module with ``register(subparsers)``
that adds its parser and sets ``func`` (a callable taking the parsed args and returning an
exit code). Modules import their heavy dependencies inside ``func`` (torch, onnxruntime, the
web server), so ``audiofront --help`` imports none of them and returns at once; shared options
(``--backend``, ``--threads``, ``--verbose``) come from :mod:`audiofront.arguments`. A command
module that fails to import leaves its commands listed, answering with the error, and the
other commands work.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from audiofront import __version__
from audiofront.errors import AudiofrontError

__all__ = ["main", "build_parser", "COMMAND_MODULES", "START_TIME"]


def _process_start() -> float | None:
    """``time.perf_counter()`` at this process's start (Linux ``/proc``; None elsewhere), for ``--verbose``."""
    import os

    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            started = int(stat.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
            age = float(uptime.read().split()[0]) - started
    except (OSError, ValueError, IndexError):
        return None
    return time.perf_counter() - max(age, 0.0)


START_TIME = _process_start()

# Each command module and the commands it registers (listed here so a module that fails to import
# still shows its commands, with the reason).
COMMAND_MODULES = {
    "audiofront.runtime.cli": ("doctor",),
    "audiofront.models.cli": ("train", "evaluate", "demo", "classify"),
    "audiofront.serve.cli": ("serve", "triton"),
    "audiofront.bench.cli": ("bench", "bench-serving"),
    "audiofront.export.cli": ("export", "export-classifier"),
}


def _broken(commands, subparsers, module: str, exc: BaseException) -> None:
    why = f"unavailable: {module} failed to import ({type(exc).__name__}: {exc})"

    def fail(args) -> int:
        print(f"audiofront {args.command}: {why}", file=sys.stderr)
        return 1

    for command in commands:
        sub = subparsers.add_parser(command, help=why, description=why)
        sub.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        sub.set_defaults(func=fail)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiofront", description="Audio front-ends that export to ONNX and TensorRT.")
    parser.add_argument("--version", action="version", version=f"audiofront {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, commands in COMMAND_MODULES.items():
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # one broken command module must not take the others' help down
            _broken(commands, subparsers, name, exc)
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except AudiofrontError as exc:
        print(f"audiofront {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        print(f"audiofront {args.command}: error: this command needs torch, which is not installed; install it with "
              "pip install torch==2.13.0 (or the 'torch' extra). Exported pipelines run without it: audiofront "
              "classify --model, serve --model, triton, doctor.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
