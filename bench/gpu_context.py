"""What the GPU check's sections share: the run's context, and how a section says skipped or failed.

A section is a function ``section(ctx) -> dict``. It returns its result (status ``ok``), raises
:class:`SectionSkipped` when this machine cannot run it, or :class:`SectionFailed` with what it
did measure when a check failed; any other exception is recorded as a failure too. Sections
watch ``ctx.time_left()`` and measure less when their budget runs out.

Example::

    >>> ctx = CheckContext(device="cpu", quick=True, workdir=Path("/tmp/gpu-check"))
    >>> ctx.start(budget_s=10.0); ctx.time_left() > 9
    True
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

__all__ = ["CheckContext", "SectionSkipped", "SectionFailed", "cuda_unavailable_reason"]


class SectionSkipped(Exception):
    """This machine cannot run the section; the message says why."""


class SectionFailed(Exception):
    """A check inside the section failed; ``result`` keeps what was measured."""

    def __init__(self, reason: str, result: dict):
        super().__init__(reason)
        self.result = result


@dataclasses.dataclass
class CheckContext:
    """Device (``"cuda"``, or ``"cpu"`` to exercise the code in CI), sizes and the section's deadline."""

    device: str
    quick: bool
    workdir: Path
    threads: int = 2
    compile: bool = True  # torch.compile contenders in the latency section
    progress: bool = False
    deadline: float = math.inf

    def start(self, budget_s: float) -> None:
        self.deadline = time.monotonic() + budget_s

    def time_left(self) -> float:
        return max(self.deadline - time.monotonic(), 0.0)

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"


def cuda_unavailable_reason() -> str | None:
    """None where torch can run on a CUDA device, else why not."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - audiofront needs torch
        return f"torch is not importable ({exc})"
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device"
    return None
