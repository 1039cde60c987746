"""The inference path runs without torch: a venv holding exactly what ``pip install 'audiofront[cpu,serve]'``
installs (the requirement closure of the base install and those extras, resolved from this venv's
installed metadata — so a dependency the package forgot to declare is missing there too, and torch
must not be in it) classifies, serves, writes a Triton repository and runs ``doctor`` with a pipeline
ONNX exported here, in the venv with torch.

The venv is built without pip or a network: each distribution of the closure is linked from this
venv's site-packages (seconds instead of minutes of pip on this machine). It skips with the reason
when it cannot be built (not a venv, not Linux, a distribution without file records).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.artifacts import LABELS, SAMPLE_RATE, pipeline_onnx, torch_parts  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[1]
TORCH_ONLY = {"torch", "onnxscript"}  # the torch extra: must not be needed here


def _closure(extras: set[str]) -> dict[str, metadata.Distribution]:
    """Installed distributions that ``audiofront[extras]`` needs: pyproject.toml's requirements, then theirs."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"]) + [r for e in sorted(extras) for r in project["optional-dependencies"][e]]
    found: dict[str, metadata.Distribution] = {}
    todo = [(Requirement(line), "") for line in declared]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        if name in found and not req.extras:
            continue
        dist = found[name] = metadata.distribution(req.name)
        for line in dist.requires or []:
            sub = Requirement(line)
            for wanted in sorted(set(req.extras) | {""}):
                if sub.marker is None or sub.marker.evaluate({"extra": wanted}):
                    todo.append((sub, wanted))
                    break
    return found


@pytest.fixture(scope="session")
def torch_free_python(tmp_path_factory) -> Path:
    if sys.prefix == sys.base_prefix or not sys.platform.startswith("linux"):
        pytest.skip("needs to run inside a Linux venv (it links this venv's packages into a torch-free one)")
    dists = _closure({"cpu", "serve"})
    assert not TORCH_ONLY & set(dists), f"the torch-free install would pull {sorted(TORCH_ONLY & set(dists))}"
    venv = tmp_path_factory.mktemp("torch-free") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    own = Path(sysconfig.get_path("purelib"))
    linked = set()
    for name, dist in dists.items():
        if dist.files is None:
            pytest.skip(f"{name} has no RECORD of its files: cannot link it")
        for file in dist.files:
            top = file.parts[0]
            if top in linked or top.startswith("..") or top == "__pycache__" or not (own / top).exists():
                continue
            (site / top).symlink_to(own / top)
            linked.add(top)
    for entry in own.iterdir():  # audiofront itself: this checkout, installed editable
        if entry.name.startswith(("__editable__.audiofront-", "__editable___audiofront_", "audiofront-")):
            (site / entry.name).symlink_to(entry)
    python = venv / "bin" / "python"
    out = subprocess.run([str(python), "-c", "import importlib.util as u; print(u.find_spec('torch'))"],
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "None"
    return python


def _run(python: Path, *args, timeout=120, cwd=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run([str(python), *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def test_classify_doctor_and_triton_run_without_torch(torch_free_python, pipeline_onnx, tmp_path):  # noqa: F811
    rng = np.random.default_rng(0)
    wav = tmp_path / "clip.wav"
    sf.write(str(wav), (0.1 * rng.standard_normal(int(1.5 * 22050))).astype(np.float32), 22050)  # resampled there
    out = _run(torch_free_python, "-m", "audiofront.cli", "classify", "--model", str(pipeline_onnx), str(wav),
               "--json", "--top-k", "2", "--verbose", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["backend"] == "onnxruntime-cpu" and result["results"][0]["windows"] == 2
    assert [t["label"] for t in result["results"][0]["top"]][0] in LABELS
    assert "torch imported: no" in out.stderr and re.search(r"first call \d+\.\d+ s", out.stderr)

    # The same file classified here, with torch installed, gives the same probabilities.
    from audiofront.runtime import Pipeline
    from audiofront.runtime.audio import load_audio

    with Pipeline.load(pipeline_onnx, backend="onnxruntime-cpu") as p:
        audio, rate = load_audio(wav)
        here = p.classify([audio], sample_rate=rate, top_k=2)[0].top
    there = [(t["label"], t["probability"]) for t in result["results"][0]["top"]]
    assert [k for k, _ in here] == [k for k, _ in there]
    np.testing.assert_allclose([v for _, v in here], [v for _, v in there], atol=1e-5)

    doctor = _run(torch_free_python, "-m", "audiofront.cli", "doctor", "--json", cwd=tmp_path)
    assert doctor.returncode == 0, doctor.stderr
    report = json.loads(doctor.stdout)
    torch_cpu = next(b for b in report["backends"] if b["name"] == "torch-cpu")
    assert not torch_cpu["usable"] and "torch is not installed" in torch_cpu["reason"]
    assert report["auto"]["onnx"] == "onnxruntime-cpu" and report["auto"]["torch"] is None

    triton = _run(torch_free_python, "-m", "audiofront.cli", "triton", "--model", str(pipeline_onnx), "-o",
                  str(tmp_path / "repo"), cwd=tmp_path)
    assert triton.returncode == 0, triton.stderr
    assert (tmp_path / "repo" / pipeline_onnx.stem / "config.pbtxt").is_file()

    export = _run(torch_free_python, "-m", "audiofront.cli", "export", "--preset", "kapre-logmel", "-o",
                  str(tmp_path / "x.onnx"), cwd=tmp_path)
    assert export.returncode == 1 and "needs torch" in export.stderr and "pip install torch==2.13.0" in export.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_runs_without_torch(torch_free_python, pipeline_onnx, tmp_path):  # noqa: F811
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    server = subprocess.Popen([str(torch_free_python), "-m", "audiofront.cli", "serve", "--model", str(pipeline_onnx),
                               "--port", str(port), "--log-level", "warning"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"audiofront serve did not come up: {server.communicate(timeout=5)[0]}")
                time.sleep(0.2)
        pcm = (0.1 * np.random.default_rng(1).standard_normal(SAMPLE_RATE)).astype("<f4").tobytes()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/classify?sample_rate={SAMPLE_RATE}", data=pcm,
                                         headers={"Content-Type": "application/x-pcm-f32"})
        with urllib.request.urlopen(request, timeout=30) as r:
            answer = json.loads(r.read())
        assert answer["top"][0]["label"] in LABELS and answer["windows"] == 1
        total = sum(t["probability"] for t in answer["top"])
        assert 0 < total <= 1 + 1e-5
    finally:
        server.terminate()
        server.wait(timeout=30)
