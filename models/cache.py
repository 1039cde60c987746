"""Where the shipped piano model lives and where its exported pipeline is cached, without torch.

:func:`cached_pipeline_path` names the ONNX pipeline :func:`audiofront.models.pipeline_onnx`
exports once (keyed by :func:`weights_digest`: the weights, their config, the package version
and the export revision). ``audiofront classify`` finds it here and runs it on ONNX Runtime
without importing torch; torch is needed only to export it the first time.

Example::

    >>> cached_pipeline_path().name.startswith("piano88-")
    True
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from audiofront import __version__
from audiofront.errors import ModelFileError

__all__ = ["WEIGHTS_DIR", "WEIGHTS_NAME", "EXPORT_REVISION", "weights_paths", "weights_digest", "cache_dir",
           "cached_pipeline_path"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_NAME = "piano"
# Part of the export cache key: bump when export_pipeline changes what it writes.
EXPORT_REVISION = "prepend-1"


def weights_paths(weights_dir=None) -> tuple[Path, Path]:
    """``(piano.pt, piano.json)`` in ``weights_dir`` (default: the shipped ones)."""
    d = WEIGHTS_DIR if weights_dir is None else Path(weights_dir)
    return d / f"{WEIGHTS_NAME}.pt", d / f"{WEIGHTS_NAME}.json"


def weights_digest(weights_dir=None) -> str:
    """SHA-256 over the weights file, its config, the package version and the export revision: the cache key."""
    pt, js = weights_paths(weights_dir)
    h = hashlib.sha256()
    try:
        h.update(pt.read_bytes())
        h.update(json.dumps(json.loads(js.read_text())["config"], sort_keys=True).encode())
    except (OSError, ValueError, KeyError) as exc:
        raise ModelFileError(f"piano model files in {pt.parent} are unreadable: {exc}") from None
    h.update(__version__.encode())
    h.update(EXPORT_REVISION.encode())
    return h.hexdigest()


def cache_dir() -> Path:
    """``$AUDIOFRONT_CACHE``, else ``$XDG_CACHE_HOME/audiofront``, else ``~/.cache/audiofront``."""
    if os.environ.get("AUDIOFRONT_CACHE"):
        return Path(os.environ["AUDIOFRONT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "audiofront"


def cached_pipeline_path(weights_dir=None) -> Path:
    """The cache file of the model's ONNX pipeline (it may not exist yet)."""
    return cache_dir() / f"piano88-{weights_digest(weights_dir)[:16]}.onnx"
