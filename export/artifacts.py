"""Model files on disk: atomic writes, checked loading, content hashes.

Every file this package writes goes through :func:`atomic_write_bytes` (a temporary file in
the destination's folder, then ``os.replace``), so a failed export, compose or engine build
never leaves a partial file where the caller expects a model. The file gets the mode a plain
``open()`` would give it (``0o666`` less the umask), not ``mkstemp``'s private ``0o600``, so a
server running as another user can read it. A temporary file is named
``.<name>.<pid>.<random>.tmp``; one whose process is gone (a killed run) is swept by the next
write to the same folder.

Example::

    >>> model = load_onnx(frontend_onnx)          # ModelFileError names the file and the reason
    >>> atomic_write_bytes(tmp_path / "copy.onnx", model.SerializeToString()).name
    'copy.onnx'
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from pathlib import Path

import onnx

from audiofront.errors import ExportError, ModelFileError

__all__ = ["atomic_write_bytes", "sweep_temporary_files", "save_onnx", "check_and_save", "load_onnx", "sha256_file", "sha256_bytes"]


_UMASK_LOCK = threading.Lock()
_TEMP_NAME = re.compile(r"^\..+\.(\d+)\.[a-z0-9_]{8}\.tmp$")  # tempfile.mkstemp adds 8 such characters


def _umask() -> int:
    """The process umask (read by setting it and back: the only portable way; locked against other threads)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:
        return True
    return True


def sweep_temporary_files(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of writers that died in ``folder`` (their pid no longer runs); return them.

    Only names this module makes (``.<name>.<pid>.<random>.tmp``) are touched.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match and entry.is_file(follow_symlinks=False) and not _alive(int(match.group(1))):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one.

    The temporary file lives in the same folder (``os.replace`` is atomic only within one file
    system) and is removed if anything fails before the rename. The result has mode ``0o666``
    less the umask; temporary files left by killed writers in that folder are swept first.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    sweep_temporary_files(folder)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def save_onnx(model: onnx.ModelProto, path: str | os.PathLike) -> Path:
    """Serialise ``model`` (under 2 GB) to ``path`` atomically."""
    return atomic_write_bytes(path, model.SerializeToString())


def check_and_save(model: onnx.ModelProto, path: str | os.PathLike, *, what: str) -> Path:
    """Run ``onnx.checker`` (full check), then :func:`save_onnx`; either failure is one :class:`ExportError`.

    ``what`` names the graph in the message ("the fp16 variant of x.onnx"). Nothing is written
    when the check fails.
    """
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:
        raise ExportError(f"{what} fails onnx.checker: {exc}") from exc
    try:
        return save_onnx(model, path)
    except OSError as exc:
        raise ExportError(f"cannot write {str(path)!r}: {exc}") from exc


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (the key engines and caches use for "the same ONNX")."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_onnx(source, *, what: str = "model", check: bool = True) -> onnx.ModelProto:
    """Load an ONNX model from a path (or pass a ``ModelProto`` through), checked.

    Raises :class:`ModelFileError` naming the file when it is missing, is not an ONNX protobuf,
    is truncated, or fails ``onnx.checker``. ``what`` names the role in messages ("classifier").
    """
    if isinstance(source, onnx.ModelProto):
        model, name = source, f"{what} (in-memory ModelProto)"
    else:
        path = Path(source)
        name = f"{what} file {str(path)!r}"
        if not path.is_file():
            raise ModelFileError(f"{name} does not exist or is not a file")
        if path.stat().st_size == 0:
            raise ModelFileError(f"{name} is empty")
        try:
            # onnx.load also pulls in external data (weights in a side file, as torch may write them).
            model = onnx.load(str(path))
        except Exception as exc:  # protobuf's DecodeError, missing external data...
            raise ModelFileError(f"{name} is not an ONNX model or is truncated ({type(exc).__name__}: {exc})") from None
    if not model.graph.node and not model.graph.output:
        raise ModelFileError(f"{name} holds no graph (not an ONNX model, or truncated)")
    if check:
        try:
            onnx.checker.check_model(model)
        except Exception as exc:
            raise ModelFileError(f"{name} fails onnx.checker (truncated or invalid): {exc}") from None
    return model
