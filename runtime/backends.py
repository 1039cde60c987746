"""The backend registry: which backends exist, which can run here, and which ``backend="auto"`` picks.

A backend is one file. Each module of this package named ``*_runner.py`` declares
``BACKENDS``, a tuple of :class:`Backend` entries: the name, its availability probe, the
factory of its runner, the artifact kinds it runs (``"onnx"``, ``"engine"``, ``"torch"``), its
rank in ``backend="auto"`` (lower is better; ``None``: by name only) and its device. The
registry reads those modules on first use (without importing their frameworks: probes and
runners import those when called); :func:`register_backend` adds one from anywhere else (a
plugin, a test). :class:`~audiofront.runtime.Pipeline`, ``audiofront doctor``, the server and
the benchmarks ask the registry and know no backend by name.

Built in, auto order best first: ``tensorrt`` > ``onnxruntime-cuda`` > ``torch-cuda`` >
``onnxruntime-cpu`` > ``torch-cpu``. ``onnxruntime-tensorrt`` (ONNX Runtime's TensorRT
provider) is available by name only: it builds engines on first use, which takes minutes.

Probes answer ``(usable, reason)`` without side effects beyond importing their package; a
GPU probe opens a one-node session, because a provider that is compiled in may still fail to
start (no GPU, missing cuDNN).

Example::

    >>> for status in available_backends():
    ...     print(status.name, status.usable, status.reason)
    >>> choose_backend("auto", kind="onnx").name
    'onnxruntime-cpu'
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from audiofront.errors import BackendUnavailable, ConfigError

__all__ = [
    "ARTIFACT_KINDS",
    "Backend",
    "BackendStatus",
    "BackendChoice",
    "register_backend",
    "unregister_backend",
    "get_backend",
    "registered_backends",
    "backend_names",
    "auto_order",
    "refusals",
    "runs",
    "available_backends",
    "backend_status",
    "choose_backend",
    "artifact_kind",
    "BACKENDS",
    "AUTO_ORDER",
    "UNSUPPORTED",
]

#: What a backend may run, and how a refusal names it.
ARTIFACT_KINDS = {
    "onnx": ".onnx pipelines",
    "engine": "TensorRT .engine files",
    "torch": "torch modules (Pipeline.from_torch)",
}


@dataclass(frozen=True)
class Backend:
    """One backend as the registry knows it.

    ``probe() -> (usable, reason)``; ``make_runner(artifact, *, kind, threads=None, device=None,
    input_specs=None, output_specs=None) -> Runner`` (``artifact`` is a path for file kinds, an
    ``nn.Module`` for ``"torch"``; a factory ignores options it has no use for); ``kinds``: the
    artifact kinds it runs; ``rank``: its place in auto (lower first; ``None``: by name only);
    ``device``: ``"cpu"`` or ``"cuda"``; ``refuses``: kind -> why, for a clearer refusal than the default.
    """

    name: str
    probe: Callable[[], tuple[bool, str]]
    make_runner: Callable[..., object]
    kinds: tuple[str, ...]
    rank: int | None = None
    device: str = "cpu"
    refuses: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or self.name == "auto":
            raise ConfigError(f"a backend name must be a non-empty string other than 'auto', got {self.name!r}")
        bad = [k for k in self.kinds if k not in ARTIFACT_KINDS]
        if bad or not self.kinds:
            raise ConfigError(f"backend {self.name!r}: kinds must be a non-empty subset of {list(ARTIFACT_KINDS)}, got {self.kinds!r}")
        if self.device not in ("cpu", "cuda"):
            raise ConfigError(f"backend {self.name!r}: device must be 'cpu' or 'cuda', got {self.device!r}")
        object.__setattr__(self, "kinds", tuple(self.kinds))

    def refusal(self, kind: str) -> str:
        """Why this backend cannot run artifacts of ``kind``."""
        return self.refuses.get(kind) or f"runs {' and '.join(ARTIFACT_KINDS[k] for k in self.kinds)} only"


@dataclass(frozen=True)
class BackendStatus:
    """Whether backend ``name`` can run here; ``reason`` says why not (or what it runs on)."""

    name: str
    usable: bool
    reason: str


@dataclass(frozen=True)
class BackendChoice:
    """The backend picked and why (for auto: why each better one was skipped)."""

    name: str
    reason: str


_REGISTRY: dict[str, Backend] = {}
_DISCOVERED = False


def _discover() -> None:
    """Read ``BACKENDS`` from every ``*_runner`` module of this package (once)."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    package = importlib.import_module("audiofront.runtime")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.endswith("_runner"):
            module = importlib.import_module(f"audiofront.runtime.{info.name}")
            for backend in getattr(module, "BACKENDS", ()):
                _REGISTRY.setdefault(backend.name, backend)


def register_backend(backend: Backend, *, replace: bool = False) -> Backend:
    """Add ``backend`` to the registry (``replace=True`` overrides one of the same name)."""
    if not isinstance(backend, Backend):
        raise ConfigError(f"register_backend takes a Backend, got {type(backend).__name__}")
    _discover()
    if backend.name in _REGISTRY and not replace:
        raise ConfigError(f"backend {backend.name!r} is already registered (pass replace=True to override it)")
    _REGISTRY[backend.name] = backend
    _cached_status.cache_clear()
    return backend


def unregister_backend(name: str) -> None:
    """Remove ``name`` from the registry (no error when it is absent)."""
    _discover()
    _REGISTRY.pop(name, None)
    _cached_status.cache_clear()


def registered_backends() -> list[Backend]:
    """Every registered backend: ranked ones best first, then the by-name-only ones."""
    _discover()
    ranked = sorted((b for b in _REGISTRY.values() if b.rank is not None), key=lambda b: b.rank)
    return ranked + [b for b in _REGISTRY.values() if b.rank is None]


def backend_names() -> tuple[str, ...]:
    return tuple(b.name for b in registered_backends())


def auto_order(kind: str | None = None, device: str | None = None) -> tuple[str, ...]:
    """The names ``backend="auto"`` tries, best first (only those running ``kind`` on ``device`` if given)."""
    return tuple(
        b.name for b in registered_backends()
        if b.rank is not None and (kind is None or kind in b.kinds) and (device is None or b.device == device)
    )


def get_backend(name: str) -> Backend:
    """The registered backend ``name``; :class:`ConfigError` naming the known ones otherwise."""
    _discover()
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ConfigError(f"backend must be 'auto' or one of {list(backend_names())}, got {name!r}")
    return _REGISTRY[name]


def runs(name: str, kind: str) -> bool:
    """True when backend ``name`` runs artifacts of ``kind`` (``"onnx"``, ``"engine"``, ``"torch"``)."""
    return kind in get_backend(name).kinds


def refusals(kind: str) -> dict[str, str]:
    """For artifacts of ``kind``: each backend that cannot run them, and why."""
    if kind not in ARTIFACT_KINDS:
        raise ConfigError(f"kind must be one of {list(ARTIFACT_KINDS)}, got {kind!r}")
    return {b.name: b.refusal(kind) for b in registered_backends() if kind not in b.kinds}


def artifact_kind(path) -> str:
    """The artifact kind of a model file: ``"engine"`` for ``X.engine``, else ``"onnx"``."""
    return "engine" if str(path).lower().endswith(".engine") else "onnx"


@functools.lru_cache(maxsize=None)
def _cached_status(name: str) -> BackendStatus:
    try:
        usable, reason = get_backend(name).probe()
    except Exception as exc:  # a probe must answer, not crash the caller
        usable, reason = False, f"probe failed: {type(exc).__name__}: {exc}"
    return BackendStatus(name, bool(usable), str(reason))


def backend_status(name: str, *, refresh: bool = False) -> BackendStatus:
    """Probe one backend (cached; ``refresh=True`` probes again)."""
    get_backend(name)
    if refresh:
        _cached_status.cache_clear()
    return _cached_status(name)


def available_backends(*, refresh: bool = False) -> list[BackendStatus]:
    """Every registered backend (in :func:`registered_backends` order), usable or not, with the reason."""
    if refresh:
        _cached_status.cache_clear()
    return [_cached_status(name) for name in backend_names()]


def choose_backend(
    requested: str = "auto",
    *,
    kind: str | None = None,
    device: str | None = None,
    unsupported: Mapping[str, str] | None = None,
    statuses: Sequence[BackendStatus] | None = None,
) -> BackendChoice:
    """Pick a backend: ``"auto"`` (the best usable one in :func:`auto_order`) or one by name.

    ``kind`` is the artifact at hand (backends that cannot run it are refused, with why);
    ``device`` (``"cpu"``/``"cuda"``) limits auto to backends on that device; ``unsupported``
    maps further backends to why they cannot run it (one that failed to start); ``statuses``
    overrides the probes (tests, callers that probed already). Raises :class:`ConfigError` for
    an unknown name and :class:`BackendUnavailable` (with the reason) when the requested backend,
    or every backend for ``"auto"``, cannot run here.
    """
    refused = refusals(kind) if kind is not None else {}
    refused.update(unsupported or {})
    if not isinstance(requested, str) or (requested != "auto" and requested not in backend_names()):
        raise ConfigError(f"backend must be 'auto' or one of {list(backend_names())}, got {requested!r}")
    table = None if statuses is None else {s.name: s for s in statuses}

    def status(name: str) -> BackendStatus:
        # Probe only what is asked about: probing torch imports it, which a pipeline file never needs.
        if table is None:
            return _cached_status(name)
        return table.get(name) or BackendStatus(name, False, "not probed")

    if requested != "auto":
        if requested in refused:
            raise BackendUnavailable(f"backend {requested!r} cannot run this model: {refused[requested]}")
        st = status(requested)
        if not st.usable:
            raise BackendUnavailable(f"backend {requested!r} is not usable here: {st.reason}")
        return BackendChoice(requested, f"{requested} requested explicitly ({st.reason})")

    order = auto_order(device=device)
    skipped = []
    for name in order:
        if name in refused:
            skipped.append(f"{name}: {refused[name]}")
            continue
        st = status(name)
        if st.usable:
            why = f"{name}: the best usable backend in the order {' > '.join(order)} ({st.reason})"
            return BackendChoice(name, why + ("; skipped " + "; ".join(skipped) if skipped else ""))
        skipped.append(f"{name}: {st.reason}")
    raise BackendUnavailable("no backend can run this model here: " + ("; ".join(skipped) or "none registered"))


def __getattr__(name: str):
    # Views of the registry, computed when read (a registered backend shows up in them).
    if name == "BACKENDS":
        return backend_names()
    if name == "AUTO_ORDER":
        return auto_order()
    if name == "UNSUPPORTED":
        return {kind: refusals(kind) for kind in ARTIFACT_KINDS}
    raise AttributeError(f"module 'audiofront.runtime.backends' has no attribute {name!r}")
