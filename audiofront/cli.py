"""The ``audiofront`` command: a thin argparse layer over the package's API.

Each subcommand lives beside the code it drives, in a module with ``register(subparsers)``
that adds its parser and sets ``func`` (a callable taking the parsed args and returning an
exit code). Modules import their heavy dependencies inside ``func``, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from audiofront import __version__
from audiofront.errors import AudiofrontError

__all__ = ["main", "build_parser", "COMMAND_MODULES"]

# One line per command module; each registers one or more subcommands.
COMMAND_MODULES = (
    "audiofront.runtime.cli",
    "audiofront.models.cli",
    "audiofront.serve.cli",
    "audiofront.bench.cli",
    "audiofront.export.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiofront", description="Audio front-ends that export to ONNX and TensorRT.")
    parser.add_argument("--version", action="version", version=f"audiofront {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
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
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
