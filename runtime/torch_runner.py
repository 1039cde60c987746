"""PyTorch eager backend: ``TorchRunner`` runs an ``nn.Module`` on the CPU or a CUDA device.

This module is the whole backend: the runner, the probes and the registry entries
(:data:`BACKENDS`) for ``torch-cuda`` and ``torch-cpu``. torch is imported when a runner is made
or a probe runs, never at module import, so the registry loads on a machine without torch.

Example::

    >>> runner = TorchRunner(torch.nn.Softmax(dim=-1), input_specs=[TensorSpec("x", ("batch", 3), np.float32)],
    ...                      output_names=["p"])
    >>> with runner:
    ...     runner.infer({"x": np.zeros((1, 3), np.float32)})["p"]
    array([[0.33333334, 0.33333334, 0.33333334]], dtype=float32)
"""

from __future__ import annotations

import copy
import importlib.util
from typing import TYPE_CHECKING, Sequence

import numpy as np

from audiofront.errors import BackendUnavailable, ConfigError, MissingDependency
from audiofront.runtime.backends import Backend
from audiofront.runtime.runner import Runner, RunnerError, TensorSpec

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["TorchRunner", "BACKENDS", "import_torch"]


def import_torch(purpose: str = "run the torch backend"):
    """``import torch``, or :class:`MissingDependency` saying what needs it and how to install it."""
    try:
        import torch
    except ImportError:
        raise MissingDependency(
            f"torch is needed to {purpose} but is not installed; install it with pip install torch==2.13.0 "
            "(or the 'torch' extra). ONNX and TensorRT pipelines run without it."
        ) from None
    return torch


class TorchRunner(Runner):
    """Run ``module`` in eval mode under ``torch.inference_mode`` on ``device`` ("cpu" or "cuda[:N]").

    Inputs are passed positionally in ``input_specs`` order (or ``input_names``, with unknown
    shapes and float32); outputs are one tensor, a tuple or a dict, named by ``output_names``.
    The runner works on its own copy of ``module``, so the caller's module keeps its device and
    train/eval mode. Outputs come back as numpy arrays on the host.
    """

    def __init__(
        self,
        module: nn.Module,
        input_names: Sequence[str] = ("audio",),
        *,
        output_names: Sequence[str] = ("output",),
        device: str | torch.device = "cpu",
        input_specs: Sequence[TensorSpec] | None = None,
        output_specs: Sequence[TensorSpec] | None = None,
        name: str | None = None,
    ):
        super().__init__(name)
        torch = import_torch()
        if not isinstance(module, torch.nn.Module):
            raise ConfigError(f"module must be a torch.nn.Module, got {type(module).__name__}")
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ConfigError(f"device must be 'cpu' or 'cuda[:index]', got {device!r} ({exc})") from None
        if self.device.type not in ("cpu", "cuda"):
            raise ConfigError(f"device must be 'cpu' or 'cuda[:index]', got {device!r}")
        self.backend = f"torch-{self.device.type}"
        self._module_template = module
        self._declared_inputs = (
            list(input_specs) if input_specs is not None else [TensorSpec(n, None, np.float32) for n in input_names]
        )
        self._declared_outputs = (
            list(output_specs) if output_specs is not None else [TensorSpec(n, None, np.float32) for n in output_names]
        )
        if not self._declared_inputs or not self._declared_outputs:
            raise ConfigError("a TorchRunner needs at least one input name and one output name")
        self._module: nn.Module | None = None

    def _activate(self):
        import torch

        if self.device.type == "cuda":
            if not torch.cuda.is_available():
                why = "torch was built without CUDA" if torch.version.cuda is None else "no CUDA device is visible"
                raise BackendUnavailable(f"torch-cuda is not usable: {why} (torch {torch.__version__})")
            index = self.device.index or 0
            if index >= torch.cuda.device_count():
                raise BackendUnavailable(
                    f"torch-cuda: device cuda:{index} does not exist ({torch.cuda.device_count()} CUDA device(s))"
                )
        self._module = copy.deepcopy(self._module_template).to(self.device).eval()
        return self._declared_inputs, self._declared_outputs

    def _infer(self, feeds):
        import torch

        args = [torch.from_numpy(feeds[spec.name]).to(self.device, non_blocking=False) for spec in self._declared_inputs]
        with torch.inference_mode():
            result = self._module(*args)
        names = [spec.name for spec in self._declared_outputs]
        if isinstance(result, torch.Tensor):
            result = (result,)
        if isinstance(result, dict):
            missing = [n for n in names if n not in result]
            if missing:
                raise RunnerError(f"{self.name}: the module's output dict lacks {missing}")
            tensors = [result[n] for n in names]
        else:
            tensors = list(result)
            if len(tensors) != len(names):
                raise RunnerError(f"{self.name}: the module returned {len(tensors)} outputs, expected {len(names)} ({names})")
        return {n: t.detach().to("cpu").numpy() for n, t in zip(names, tensors)}

    def _deactivate(self):
        self._module = None
        if self.device.type == "cuda":
            import torch

            torch.cuda.empty_cache()


# ----- the registry's entries -----------------------------------------------------------------
def _probe(device: str) -> tuple[bool, str]:
    if importlib.util.find_spec("torch") is None:
        return False, "torch is not installed (pip install torch==2.13.0, or the 'torch' extra)"
    import torch

    if device == "cpu":
        return True, f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    if torch.version.cuda is None:
        return False, f"torch {torch.__version__} is a CPU-only build (no CUDA)"
    if not torch.cuda.is_available():
        return False, f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device"
    return True, f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}"


_MODULES_ONLY = {kind: "runs torch modules (Pipeline.from_torch), not model files" for kind in ("onnx", "engine")}


def _factory(default_device: str):
    def make_runner(artifact, *, kind="torch", device=None, input_specs=None, output_specs=None, **_ignored):
        return TorchRunner(artifact, device=device or default_device, input_specs=input_specs, output_specs=output_specs)

    return make_runner


BACKENDS = (
    Backend("torch-cuda", lambda: _probe("cuda"), _factory("cuda"), ("torch",), rank=30, device="cuda",
            refuses=_MODULES_ONLY),
    Backend("torch-cpu", lambda: _probe("cpu"), _factory("cpu"), ("torch",), rank=50, device="cpu",
            refuses=_MODULES_ONLY),
)
