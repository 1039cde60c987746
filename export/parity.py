"""Numerical parity of an exported graph against its torch module, on onnxruntime's CPU provider.

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

__all__ = ["ParityResult", "torch_parity"]


@dataclass(frozen=True)
class ParityResult:
    """``max_abs_diff`` between ORT and torch on an input of ``input_shape`` (output ``output_shape``)."""

    input_shape: tuple
    output_shape: tuple
    max_abs_diff: float
    max_abs_value: float

    def __str__(self) -> str:
        return (f"parity ORT vs torch on input {self.input_shape} -> {self.output_shape}: "
                f"max abs diff {self.max_abs_diff:.3g} (outputs up to {self.max_abs_value:.3g})")


def torch_parity(path, module: nn.Module, audio: torch.Tensor | None = None, *, sample_rate: int = 16000,
                 seed: int = 0) -> ParityResult:
    """Run ``audio`` (default: 2 x 1.3 s of noise, a shape export did not trace) through both and compare."""
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
    return ParityResult(tuple(audio.shape), tuple(got.shape), float(np.abs(got.astype(np.float64) - want).max()),
                        float(np.abs(want).max()))
