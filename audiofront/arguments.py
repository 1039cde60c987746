"""Command-line arguments shared by several ``audiofront`` commands, defined once.

The package CLIs (``runtime/cli.py``, ``models/cli.py``, ``serve/cli.py``, ``bench/cli.py``,
``export/cli.py``) take ``--backend``, ``--threads`` and ``--long-clips`` from here, so the
commands spell, check and explain them the same way. Nothing here imports more than argparse: ``audiofront --help``
builds every command's parser.

Example::

    >>> parser = argparse.ArgumentParser()
    >>> add_backend_argument(parser); add_threads_argument(parser)
    >>> parser.parse_args(["--backend", "onnxruntime-cpu", "--threads", "2"]).threads
    2
"""

from __future__ import annotations

import argparse

__all__ = ["add_backend_argument", "add_threads_argument", "add_verbose_argument", "add_long_clips_argument",
           "positive_int", "LONG_CLIPS"]

#: The values of Pipeline's ``long_clips`` (:mod:`audiofront.runtime.lengths` takes them from here,
#: so that building the parsers imports nothing but argparse).
LONG_CLIPS = ("windows", "truncate")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (the message names the allowed range)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def add_backend_argument(parser: argparse.ArgumentParser, *, default: str = "auto", extra: str = "") -> None:
    """``--backend NAME``: ``auto`` or a registered backend (checked when the model is opened)."""
    parser.add_argument(
        "--backend", default=default, metavar="NAME",
        help=f"auto, or a backend by name: tensorrt, onnxruntime-cuda, onnxruntime-cpu, torch-cuda, torch-cpu, "
             f"onnxruntime-tensorrt (audiofront doctor lists what runs here){extra}; default {default}",
    )


def add_threads_argument(parser: argparse.ArgumentParser, *, default: int | None = None,
                         what: str = "ONNX Runtime intra-op threads (torch threads on a torch-* backend)") -> None:
    """``--threads N``: a positive thread count (``None``: the library's own choice)."""
    shown = "the library's choice" if default is None else str(default)
    parser.add_argument("--threads", type=positive_int, default=default, metavar="N", help=f"{what}; default {shown}")


def add_long_clips_argument(parser: argparse.ArgumentParser) -> None:
    """``--long-clips windows|truncate``: Pipeline's ``long_clips`` (``None`` when absent: the model's default)."""
    parser.add_argument(
        "--long-clips", choices=LONG_CLIPS, default=None,
        help="a clip longer than the model's window: 'windows' averages overlapping windows, 'truncate' classifies "
             "its first window only (as a reference extractor keeps its first max_length). Default: truncate for a "
             "preset pipeline whose graph pads or trims like its extractor, windows for any other",
    )


def add_verbose_argument(parser: argparse.ArgumentParser) -> None:
    """``-v/--verbose``: print timings (import, model load, first call) on stderr."""
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print where the time went (imports, model load, first call) on stderr")
