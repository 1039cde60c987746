"""The runner interface every backend implements (Polygraphy's shape).

A runner owns one loaded model on one backend. Its life cycle is ``activate()`` (load the model,
allocate the session/context), any number of ``infer(feed_dict) -> dict`` calls, ``deactivate()``
(free it); ``with runner: ...`` does both ends. ``input_specs`` / ``output_specs`` give the names,
shapes (``None`` or a symbolic name for a dynamic dim) and dtypes the model declares, and ``infer``
checks every feed against them before the backend sees it, so a wrong name, dtype or rank is an
:class:`~audiofront.errors.InputError` and not a backend crash.

Adding a backend is one new module with one subclass; callers never change.

Example::

    >>> from audiofront.runtime import TorchRunner, TensorSpec
    >>> runner = TorchRunner(torch.nn.Identity(), input_specs=[TensorSpec("x", ("batch", 4), np.float32)])
    >>> with runner:
    ...     runner.infer({"x": np.zeros((2, 4), np.float32)})["output"].shape
    (2, 4)
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from audiofront.errors import InputError, RunnerError

__all__ = ["TensorSpec", "Runner", "RunnerError"]


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output: ``name``, ``shape`` and ``dtype`` as the model declares them.

    ``shape`` holds ints for static dims and ``None`` or a symbolic name (``"batch"``) for dynamic
    ones; ``shape=None`` means even the rank is unknown. ``dtype`` is a numpy dtype.
    """

    name: str
    shape: tuple[int | str | None, ...] | None
    dtype: np.dtype

    def __post_init__(self):
        object.__setattr__(self, "dtype", np.dtype(self.dtype))
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(self.shape))

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    def static_dim(self, axis: int) -> int | None:
        """The dim at ``axis`` when it is a fixed int, else ``None``."""
        if self.shape is None:
            return None
        dim = self.shape[axis]
        return dim if isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0 else None

    def check(self, value) -> None:
        """Raise :class:`InputError` unless ``value`` is an ndarray this spec accepts."""
        if not isinstance(value, np.ndarray):
            raise InputError(f"input {self.name!r} must be a numpy array, got {type(value).__name__}")
        if value.dtype != self.dtype:
            raise InputError(f"input {self.name!r} must have dtype {self.dtype}, got {value.dtype}")
        if self.shape is None:
            return
        if value.ndim != len(self.shape):
            raise InputError(
                f"input {self.name!r} must have rank {len(self.shape)} {self.describe_shape()}, "
                f"got shape {value.shape}"
            )
        for axis, (want, got) in enumerate(zip(self.shape, value.shape)):
            fixed = self.static_dim(axis)
            if fixed is not None and fixed != got:
                raise InputError(
                    f"input {self.name!r} must have shape {self.describe_shape()} (dim {axis} = {fixed}), got {value.shape}"
                )

    def describe_shape(self) -> str:
        if self.shape is None:
            return "(any shape)"
        return "(" + ", ".join("?" if d is None else str(d) for d in self.shape) + ")"


class Runner(abc.ABC):
    """Base of the backend runners.

    Subclasses set :attr:`backend` and implement ``_activate`` (load; return the input and
    output specs), ``_infer`` (run on checked arrays; return ``{name: ndarray}``) and
    ``_deactivate`` (free). :attr:`max_batch_size` is ``None`` unless the backend has a limit
    (a TensorRT optimisation profile).
    """

    backend: str = "abstract"

    def __init__(self, name: str | None = None):
        self.name = name or type(self).__name__
        self.is_active = False
        self.max_batch_size: int | None = None
        self._input_specs: list[TensorSpec] | None = None
        self._output_specs: list[TensorSpec] | None = None
        self._last_time: float | None = None

    # ----- life cycle -------------------------------------------------------------------------
    def activate(self) -> "Runner":
        """Load the model on the backend; calling it on an active runner does nothing."""
        if not self.is_active:
            inputs, outputs = self._activate()
            self._input_specs, self._output_specs = list(inputs), list(outputs)
            self.is_active = True
        return self

    def deactivate(self) -> None:
        """Free the backend's resources; calling it on an inactive runner does nothing."""
        if self.is_active:
            try:
                self._deactivate()
            finally:
                self.is_active = False

    def __enter__(self) -> "Runner":
        return self.activate()

    def __exit__(self, *exc_info) -> None:
        self.deactivate()

    def __del__(self):  # a forgotten deactivate() must not leak a GPU context
        try:
            self.deactivate()
        except Exception:
            pass

    # ----- specs ------------------------------------------------------------------------------
    def _require_active(self) -> None:
        if not self.is_active:
            raise RunnerError(f"{self.name} is not active: call activate() or use it as a context manager")

    @property
    def input_specs(self) -> list[TensorSpec]:
        """The model's inputs (available once active)."""
        self._require_active()
        return list(self._input_specs)

    @property
    def output_specs(self) -> list[TensorSpec]:
        """The model's outputs (available once active)."""
        self._require_active()
        return list(self._output_specs)

    # ----- inference --------------------------------------------------------------------------
    def infer(self, feed_dict: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model: ``{input name: array}`` -> ``{output name: array}``.

        Every declared input must be fed, with the declared dtype, rank and static dims; extra
        names are refused. Raises :class:`InputError` for a bad feed, :class:`RunnerError` when
        the backend fails on a good one.
        """
        self._require_active()
        if not isinstance(feed_dict, Mapping):
            raise InputError(f"feed_dict must be a dict {{input name: ndarray}}, got {type(feed_dict).__name__}")
        names = [spec.name for spec in self._input_specs]
        missing = [n for n in names if n not in feed_dict]
        extra = [n for n in feed_dict if n not in names]
        if missing or extra:
            raise InputError(f"{self.name} takes inputs {names}; missing {missing}, unexpected {extra}")
        for spec in self._input_specs:
            spec.check(feed_dict[spec.name])
        feeds = {n: np.ascontiguousarray(feed_dict[n]) for n in names}
        start = time.perf_counter()
        try:
            outputs = self._infer(feeds)
        except (InputError, RunnerError):
            raise
        except Exception as exc:
            raise RunnerError(f"{self.name} failed to run: {type(exc).__name__}: {exc}") from exc
        self._last_time = time.perf_counter() - start
        return outputs

    def last_inference_time(self) -> float | None:
        """Seconds the last ``infer`` spent in the backend (host copies included), or None before any."""
        return self._last_time

    # ----- for subclasses ---------------------------------------------------------------------
    @abc.abstractmethod
    def _activate(self) -> tuple[list[TensorSpec], list[TensorSpec]]:
        ...

    @abc.abstractmethod
    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ...

    @abc.abstractmethod
    def _deactivate(self) -> None:
        ...

    def __repr__(self) -> str:
        state = "active" if self.is_active else "inactive"
        return f"{type(self).__name__}(name={self.name!r}, backend={self.backend!r}, {state})"
