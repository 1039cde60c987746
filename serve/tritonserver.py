"""Start a real Triton Inference Server from the pip wheel ``nvidia-pytriton`` (CPU, loopback).

``pip install --no-deps nvidia-pytriton==0.7.0`` (its metadata pins numpy < 2, hence
``--no-deps``) brings a ``tritonserver`` 2.51 binary and the python backend, but neither the
onnxruntime backend nor a python stub in the backend folder. :func:`make_backend_dir` builds a
backend folder that works: the python backend's files and the stub for the running Python
symlinked (the stub finds its libraries by RPATH; 3.10-3.12 stubs link libpython, so a wrong one
hangs the load), and ``onnxruntime/model.py`` (export/triton_python.py): Triton runs
``<backend-dir>/<backend>/model.py`` through the python backend when ``libtriton_<backend>.so`` is
absent, so repositories written for the onnxruntime backend load unchanged. :class:`TritonServer`
runs the binary on free loopback ports with explicit model control, waits for READY, and stops it
by its PID; the child gets a parent-death signal, so a crashed caller never leaves it running.

The stub's embedded Python ignores ``PYTHONPATH`` and finds its packages (numpy, onnxruntime)
from the ``python3`` first on ``PATH``: the server is started with this interpreter's folder
first on ``PATH``.

Example::

    >>> with TritonServer("repo", models=["piano"]) as server:    # doctest: +SKIP
    ...     httpx.get(f"{server.http_url}/v2/models/piano/ready").status_code
    200

From a shell: ``python -m audiofront.serve.tritonserver repo`` (Ctrl-C stops it).
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.machinery
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from audiofront.errors import BackendUnavailable, ModelFileError, RunnerError

__all__ = ["TritonInstall", "find_tritonserver", "make_backend_dir", "TritonServer", "main"]

_PIP_HINT = "pip install --no-deps nvidia-pytriton==0.7.0"


@dataclass(frozen=True)
class TritonInstall:
    """Where the wheel put the server: the binary, the python backend folder, and the stub for this Python."""

    binary: Path
    python_backend: Path
    stub: Path
    libs: Path


def find_tritonserver() -> TritonInstall:
    """The pip ``nvidia-pytriton`` server of this environment; :class:`BackendUnavailable` with the reason if absent."""
    spec = importlib.util.find_spec("pytriton")  # no import: pytriton's own modules need numpy < 2
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable(f"no Triton server in this environment: {_PIP_HINT}")
    root = Path(list(spec.submodule_search_locations)[0]) / "tritonserver"
    binary = root / "bin" / "tritonserver"
    python_backend = root / "backends" / "python"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / version / "triton_python_backend_stub"
    for path, what in ((binary, "tritonserver binary"), (python_backend / "libtriton_python.so", "python backend"),
                       (stub, f"python backend stub for Python {version}")):
        if not path.is_file():
            raise BackendUnavailable(f"nvidia-pytriton is installed but has no {what} at {path} ({_PIP_HINT} "
                                     f"on Linux x86_64, Python 3.8-3.13)")
    return TritonInstall(binary, python_backend, stub, root.parent.parent / "nvidia_pytriton.libs")


def make_backend_dir(dest, install: TritonInstall | None = None) -> Path:
    """Write a Triton backend folder into ``dest``: ``python/`` (the wheel's python backend and the
    stub for this Python, symlinked) and ``onnxruntime/model.py`` (runs ONNX models with onnxruntime)."""
    install = install or find_tritonserver()
    dest = Path(dest)
    python = dest / "python"
    python.mkdir(parents=True, exist_ok=True)
    for item in install.python_backend.iterdir():
        if item.is_file() and not (python / item.name).exists():
            # Copied, not linked: Triton refuses a backend library whose real path is outside the
            # backend folder. Its RPATH ($ORIGIN-relative) then misses, so the server gets the
            # wheel's library folder on LD_LIBRARY_PATH (TritonServer does).
            shutil.copyfile(item, python / item.name)
    if not (python / install.stub.name).exists():
        (python / install.stub.name).symlink_to(install.stub)
    (dest / "onnxruntime").mkdir(exist_ok=True)
    (dest / "onnxruntime" / "model.py").write_text(_python_model_source(), encoding="utf-8")
    return dest


def _python_model_source() -> str:
    """export/triton_python.py's text, found without importing audiofront.export (which imports torch:
    seconds, for a file read)."""
    package = importlib.util.find_spec("audiofront.export")  # imports audiofront only, not audiofront.export
    spec = importlib.machinery.PathFinder.find_spec("audiofront.export.triton_python",
                                                    list(package.submodule_search_locations or []))
    if spec is None or not spec.origin:
        raise BackendUnavailable("audiofront.export.triton_python (the onnxruntime stand-in) is missing from this install")
    return Path(spec.origin).read_text(encoding="utf-8")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class TritonServer:
    """``tritonserver`` on free loopback ports (HTTP, gRPC; metrics off), explicit model control.

    Ports 0 (the default) mean free ones. ``models`` are loaded once the server is live (each must reach READY); :meth:`load` loads more later and
    raises :class:`ModelFileError` with Triton's reason when Triton refuses one. ``log`` gives the
    server's output so far (for failure reports). ``backend_dir`` defaults to a temporary one from
    :func:`make_backend_dir`.
    """

    def __init__(self, repository, *, models=(), backend_dir=None, http_port: int = 0, grpc_port: int = 0,
                 log_verbose: int = 0, install=None):
        self.repository = Path(repository).resolve()
        self.models = list(models)
        self.install = install or find_tritonserver()
        self._tmp = None
        if backend_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="audiofront-triton-backends-")
            backend_dir = make_backend_dir(self._tmp.name, self.install)
        self.backend_dir = Path(backend_dir)
        self.http_port, self.grpc_port = http_port or _free_port(), grpc_port or _free_port()
        self.log_verbose = log_verbose
        self.process: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile(mode="w+b")

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def command(self) -> list[str]:
        cmd = [str(self.install.binary), f"--model-repository={self.repository}",
               f"--backend-directory={self.backend_dir}", "--model-control-mode=explicit",
               "--disable-auto-complete-config", "--strict-readiness=true", "--exit-on-error=false",
               "--http-address=127.0.0.1", f"--http-port={self.http_port}", "--grpc-address=127.0.0.1",
               f"--grpc-port={self.grpc_port}", "--allow-metrics=false", "--pinned-memory-pool-byte-size=0", "--exit-timeout-secs=3",
               f"--log-verbose={self.log_verbose}"]
        return cmd

    def log(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def _get(self, path: str, timeout: float = 2.0):
        import httpx

        return httpx.get(self.http_url + path, timeout=timeout)

    def start(self, timeout: float = 60.0) -> "TritonServer":
        env = dict(os.environ)
        # The stub's Python finds numpy/onnxruntime from the python3 first on PATH (it ignores PYTHONPATH).
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(self.install.libs), env.get("LD_LIBRARY_PATH")) if p)
        self.process = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                        preexec_fn=_die_with_parent, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RunnerError(f"tritonserver exited with status {self.process.returncode} before it was "
                                  f"ready:\n{self.log()[-4000:]}")
            try:
                if self._get("/v2/health/ready", 0.5).status_code == 200:
                    break
            except Exception:  # noqa: BLE001 - not listening yet
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RunnerError(f"tritonserver was not ready within {timeout:g} s:\n{self.log()[-4000:]}")
            time.sleep(0.05)
        # Loaded one by one through the repository API, so a refusal comes back with Triton's reason.
        # In parallel: each python-backend instance starts its own stub process (about a second).
        try:
            with ThreadPoolExecutor(max_workers=max(len(self.models), 1)) as pool:
                for job in [pool.submit(self.load, name, max(deadline - time.monotonic(), 1.0)) for name in self.models]:
                    job.result()
        except BaseException:
            self.stop()
            raise
        return self

    def load(self, name: str, timeout: float = 60.0) -> None:
        """Load (or reload) model ``name`` from the repository; :class:`ModelFileError` with Triton's reason."""
        import httpx

        r = httpx.post(f"{self.http_url}/v2/repository/models/{name}/load", timeout=timeout)
        if r.status_code != 200:
            try:
                reason = r.json().get("error", r.text)
            except ValueError:
                reason = r.text
            # A config Triton cannot read fails in its repository poll: the API says only "failed to
            # poll", the log has the reason.
            polled = re.findall(rf"Poll failed for model directory '{re.escape(name)}': (.*?)\"?$", self.log(), re.M)
            if polled:
                reason = f"{reason}: {polled[-1]}"
            raise ModelFileError(f"Triton refused to load model '{name}': {reason}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "TritonServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def main(argv=None) -> int:
    """``python -m audiofront.serve.tritonserver REPO [--model NAME ...]``: serve REPO until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m audiofront.serve.tritonserver",
                                     description="Run the pip nvidia-pytriton tritonserver on a repository (CPU).")
    parser.add_argument("repository")
    parser.add_argument("--model", action="append", default=None, help="model to load (default: every model)")
    parser.add_argument("--http-port", type=int, default=8000, help="HTTP port on 127.0.0.1 (default 8000; 0: a free one)")
    parser.add_argument("--grpc-port", type=int, default=8001, help="gRPC port on 127.0.0.1 (default 8001; 0: a free one)")
    args = parser.parse_args(argv)
    models = args.model or sorted(p.name for p in Path(args.repository).iterdir() if (p / "config.pbtxt").is_file())
    server = TritonServer(args.repository, models=models, http_port=args.http_port, grpc_port=args.grpc_port)
    server.start()
    print(f"tritonserver ready: HTTP {server.http_url}, gRPC {server.grpc_url}, models {models} (Ctrl-C stops)")
    try:
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
