"""Numerical parity of an exported graph against its torch module, on onnxruntime's CPU provider.

:func:`torch_parity` is the one-line report the CLI prints; :func:`compare_outputs` is the
comparison export's self-check uses at every shape it tries. Angles (a module with
``output_period``, e.g. ``Phase``) are compared modulo their period.

Example (``frontend`` is the module ``frontend_onnx`` was exported from)::

    >>> result = torch_parity(frontend_onnx, frontend, sample_rate=16000)
    >>> result.output_shape, result.max_abs_diff < 1e-2
    ((2, 96, 82), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from audiofront.export.session import make_session

__all__ = ["ParityResult", "torch_parity", "compare_outputs", "output_period", "RTOL"]

#: Largest difference accepted, relative to ``max(1, max |torch output|)``.
RTOL = 1e-3


def output_period(module: nn.Module) -> float | None:
    """The period of ``module``'s outputs when they are angles (its, or its chain's last stage's, ``output_period``)."""
    period = getattr(module, "output_period", None)
    if period is None and isinstance(module, nn.Sequential) and len(module):
        return output_period(module[-1])
    return float(period) if period else None


def compare_outputs(got: np.ndarray, want: np.ndarray, *, period: float | None = None) -> tuple[float, float]:
    """``(max abs diff, max abs value)`` of ``got`` against ``want`` (float64; modulo ``period`` for angles).

    Non-finite values must sit at the same places with the same values (NaN matching NaN); a mismatch there counts as
    an infinite difference. Shapes must agree (:class:`ValueError` otherwise).
    """
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise ValueError(f"shape {got.shape} where torch gives {want.shape}")
    finite = np.isfinite(want)
    if not np.array_equal(finite, np.isfinite(got)) or not np.array_equal(got[~finite], want[~finite], equal_nan=True):
        return float("inf"), float(np.abs(want[finite]).max(initial=0.0))
    diff = np.abs(got[finite] - want[finite])
    if period:
        diff = np.mod(diff, period)
        diff = np.minimum(diff, period - diff)
    return float(diff.max(initial=0.0)), float(np.abs(want[finite]).max(initial=0.0))


@dataclass(frozen=True)
class ParityResult:
    """``max_abs_diff`` between ORT and torch on an input of ``input_shape`` (output ``output_shape``).

    ``ok`` when the shapes agree and the difference is within :data:`RTOL` of ``max(1, max_abs_value)``;
    ``period`` is set when angles were compared modulo it.
    """

    input_shape: tuple
    output_shape: tuple
    max_abs_diff: float
    max_abs_value: float
    torch_shape: tuple | None = None
    period: float | None = None

    @property
    def ok(self) -> bool:
        same = self.torch_shape is None or tuple(self.torch_shape) == tuple(self.output_shape)
        return same and self.max_abs_diff <= RTOL * max(1.0, self.max_abs_value)

    def __str__(self) -> str:
        if self.torch_shape is not None and tuple(self.torch_shape) != tuple(self.output_shape):
            return (f"parity ORT vs torch on input {self.input_shape}: MISMATCH, ORT gives {self.output_shape}, "
                    f"torch {tuple(self.torch_shape)}")
        mod = f" (angles mod {self.period:.4g})" if self.period else ""
        verdict = "ok" if self.ok else "MISMATCH"
        return (f"parity ORT vs torch on input {self.input_shape} -> {self.output_shape}: "
                f"max abs diff {self.max_abs_diff:.3g}{mod} (outputs up to {self.max_abs_value:.3g}): {verdict}")


def torch_parity(path, module: nn.Module, audio: torch.Tensor | None = None, *, sample_rate: int = 16000,
                 seed: int = 0) -> ParityResult:
    """Run ``audio`` (default: 2 x 1.3 s of noise, a shape export did not trace) through both and compare.

    Angles (see :func:`output_period`) are compared modulo their period.
    """
    if audio is None:
        gen = torch.Generator().manual_seed(seed)
        audio = torch.randn(2, int(sample_rate * 1.3) + 7, generator=gen) * 0.1
    session = make_session(path if isinstance(path, bytes) else str(path))
    got = session.run(None, {session.get_inputs()[0].name: audio.numpy().astype(np.float32)})[0]
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            want = module(audio).numpy()
    finally:
        module.train(was_training)
    period = output_period(module)
    if got.shape != want.shape:
        return ParityResult(tuple(audio.shape), tuple(got.shape), float("inf"), float(np.abs(want).max(initial=0.0)),
                            tuple(want.shape), period)
    diff, scale = compare_outputs(got, want, period=period)
    return ParityResult(tuple(audio.shape), tuple(got.shape), diff, scale, tuple(want.shape), period)
