"""A real Triton Inference Server (tritonserver 2.51 from the pip ``nvidia-pytriton`` wheel, CPU)
loads what ``audiofront triton`` writes, answers as ``Pipeline.predict`` does, batches concurrent
clients, and refuses what our own repository check refuses.

One server for the session (tests/serve/conftest.py: free loopback ports, explicit model control,
stopped by PID, its log attached to failures); skipped with the reason where the wheel is missing.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("tritonclient.http", reason="the Triton tests need tritonclient[http]")
import tritonclient.http as httpclient  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

from audiofront.errors import ModelFileError  # noqa: E402
from audiofront.export.triton import check_repository, model_config_text, validate_config  # noqa: E402
from audiofront.runtime import Pipeline  # noqa: E402

from tests.artifacts import CLIP_SAMPLES, LABELS, distinct_signals  # noqa: E402
from tests.serve.conftest import TRITON_MAX_BATCH, TRITON_MODELS  # noqa: E402

# model -> (input, output) tensor names: the pipeline ONNX's own, and the ensemble's.
_IO = {"single": ("audio", "probabilities"), "single_py": ("audio", "probabilities"), "ens": ("audio", "probabilities")}


@pytest.fixture(scope="module")
def pipeline(pipeline_onnx):
    with Pipeline.load(pipeline_onnx, backend="onnxruntime-cpu") as p:
        yield p


@pytest.fixture(scope="module")
def client(triton):
    c = httpclient.InferenceServerClient(triton.http_url.removeprefix("http://"), concurrency=16)
    yield c
    c.close()


def _request(model: str, windows: np.ndarray, class_count: int = 0):
    name_in, name_out = _IO[model]
    audio = httpclient.InferInput(name_in, list(windows.shape), "FP32")
    audio.set_data_from_numpy(windows, binary_data=True)
    return [audio], [httpclient.InferRequestedOutput(name_out, binary_data=True, class_count=class_count)]


def _infer(client, model: str, windows: np.ndarray) -> np.ndarray:
    inputs, outputs = _request(model, windows)
    return client.infer(model, inputs, outputs=outputs).as_numpy(_IO[model][1])


def _windows(n: int, seed: int) -> np.ndarray:
    # Varied loudness, silence and a full-scale clip among them: the server must not care.
    rows = [s * g for s, g in zip(distinct_signals(n, seed=seed), np.geomspace(0.01, 3.0, n))]
    if n >= 3:
        rows[1] = np.zeros(CLIP_SAMPLES, np.float32)
        rows[2] = np.clip(rows[2] * 100, -1, 1)
    return np.stack(rows).astype(np.float32)


def test_both_layouts_and_both_backends_load_ready(triton, client):
    for model in (*TRITON_MODELS, "ens_frontend", "ens_classifier"):
        assert client.is_model_ready(model), model
        config = client.get_model_config(model)
        assert config["name"] == model and config["max_batch_size"] == TRITON_MAX_BATCH
        if model != "ens":
            # Written as KIND_AUTO; Triton placed it on the CPU, the only device here.
            assert [g["kind"] for g in config["instance_group"]] == ["KIND_CPU"], config["instance_group"]
    assert client.get_model_config("single_py")["backend"] == "python"
    assert client.get_model_config("single")["backend"] == "onnxruntime"
    # The onnxruntime stand-in and --backend python's model.py are the same shipped file.
    from audiofront.export.triton import python_model_source

    source = python_model_source()
    assert (triton.backend_dir / "onnxruntime" / "model.py").read_text() == source
    assert (triton.repository / "single_py" / "1" / "model.py").read_text() == source


@pytest.mark.parametrize("model", TRITON_MODELS)
def test_answers_equal_the_pipeline_for_single_clips_and_batches(triton, client, pipeline, model):
    for n, seed in ((1, 0), (TRITON_MAX_BATCH, 1), (3, 2)):
        windows = _windows(n, seed)
        got = _infer(client, model, windows)
        expected = pipeline.predict(windows)
        assert got.shape == (n, len(LABELS))
        if model == "ens":  # two sessions with a reshape between them: float32 rounding may differ
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        else:  # the same ONNX file through the same onnxruntime
            np.testing.assert_array_equal(got, expected)
    # Triton's classification extension names the top classes from labels.txt.
    windows = _windows(1, 3)
    inputs, outputs = _request(model, windows, class_count=2)
    top = client.infer(model, inputs, outputs=outputs).as_numpy(_IO[model][1])
    probs = pipeline.predict(windows)[0]
    order = np.argsort(-probs, kind="stable")[:2]
    assert [entry.decode().split(":")[2] for entry in top[0]] == [LABELS[i] for i in order]


def test_a_batch_over_max_batch_size_is_refused(triton, client):
    with pytest.raises(InferenceServerException, match=f"batch-size must be <= {TRITON_MAX_BATCH}"):
        _infer(client, "single", _windows(TRITON_MAX_BATCH + 1, 4))
    with pytest.raises(InferenceServerException, match="unexpected shape|shape"):
        _infer(client, "single", np.zeros((1, CLIP_SAMPLES - 1), np.float32))
    assert client.is_server_live() and _infer(client, "single", _windows(1, 5)).shape == (1, len(LABELS))


@pytest.mark.parametrize("model", ["single", "single_py"])
def test_concurrent_clients_are_batched_by_triton(triton, client, pipeline, model):
    def counts():
        stats = client.get_inference_statistics(model)["model_stats"][0]
        return stats["inference_count"], stats["execution_count"]

    before = counts()
    windows = [_windows(1, 10 + i) for i in range(12)]
    requests = [_request(model, w) for w in windows]
    pending = [client.async_infer(model, inputs, outputs=outputs) for inputs, outputs in requests]
    results = [p.get_result().as_numpy("probabilities") for p in pending]
    inferences, executions = (a - b for a, b in zip(counts(), before))
    assert inferences == 12
    assert executions < 12, f"12 concurrent one-window requests ran in {executions} executions (no batching)"
    for w, got in zip(windows, results):  # and each client got its own rows back
        np.testing.assert_array_equal(got, pipeline.predict(w))


def _mutate_single(repo, name: str, edit) -> None:
    shutil.copytree(repo / "single", repo / name)
    config = validate_config((repo / name / "config.pbtxt").read_text())
    config.name = name
    edit(repo / name, config)
    from google.protobuf import text_format

    (repo / name / "config.pbtxt").write_text(text_format.MessageToString(config))


def _mutate_ensemble(repo, name: str, edit) -> None:
    shutil.copytree(repo / "ens", repo / name)
    config = validate_config((repo / name / "config.pbtxt").read_text())
    config.name = name
    edit(repo / name, config)
    from google.protobuf import text_format

    (repo / name / "config.pbtxt").write_text(text_format.MessageToString(config))


def _unlink_labels(folder, config):
    (folder / "labels.txt").unlink()


def _wrong_name(folder, config):
    config.name = "someone_else"


def _preferred_over_max(folder, config):
    config.dynamic_batching.preferred_batch_size.append(config.max_batch_size + 1)


def _zero_dim(folder, config):
    config.input[0].dims[0] = 0


def _no_model_file(folder, config):
    (folder / "1" / "model.onnx").unlink()


def _unconnected(folder, config):
    config.ensemble_scheduling.step[1].input_map["features"] = "spectrogram"  # nobody produces it


def _missing_step(folder, config):
    config.ensemble_scheduling.step[0].model_name = "no_such_frontend"


_SINGLE = {"bad_name": _wrong_name, "bad_preferred": _preferred_over_max, "bad_dims": _zero_dim,
           "bad_labels": _unlink_labels, "bad_file": _no_model_file}
_ENSEMBLE = {"bad_unconnected": _unconnected, "bad_step": _missing_step}


@pytest.mark.parametrize("name", [*_SINGLE, *_ENSEMBLE])
def test_mutated_configs_are_refused_by_triton_and_by_our_check(triton, name):
    repo = triton.repository
    if name in _SINGLE:
        _mutate_single(repo, name, _SINGLE[name])
    else:
        _mutate_ensemble(repo, name, _ENSEMBLE[name])
    with pytest.raises(ModelFileError) as ours:
        check_repository(repo, [name])
    with pytest.raises(ModelFileError) as theirs:
        triton.load(name)
    # Both give Triton's reason (tritonserver 2.51's words; the model file one comes from the backend).
    reason = {
        "bad_name": "unexpected directory name 'bad_name' for model 'someone_else', directory name must equal model name",
        "bad_preferred": "dynamic batching preferred size must be <= max batch size for bad_preferred",
        "bad_dims": "model input 'audio' dimension must be integer >= 1, or -1 to indicate a variable-size "
                    "dimension for bad_dims",
        "bad_labels": f"failed to open text file for read {repo / 'bad_labels' / 'labels.txt'}: No such file",
        "bad_file": str(repo / "bad_file" / "1"),
        "bad_unconnected": "output 'probabilities' for ensemble 'bad_unconnected' is not written: at least one of "
                           "its depending tensors, 'spectrogram', is not connected",
        "bad_step": "ensemble bad_step contains models that are not available or ambiguous: no_such_frontend",
    }[name]
    assert reason in str(theirs.value), str(theirs.value)
    assert reason in str(ours.value), str(ours.value)


def test_the_unchanged_repository_passes_our_check(triton):
    configs = check_repository(triton.repository, list(TRITON_MODELS))
    assert set(configs) == {*TRITON_MODELS, "ens_frontend", "ens_classifier"}


def test_config_text_is_a_printed_model_config():
    from audiofront.export.triton import TensorConfig

    text = model_config_text("m", inputs=[TensorConfig("audio", "TYPE_FP32", (CLIP_SAMPLES,))],
                             outputs=[TensorConfig("p", "TYPE_FP32", (5,), label_filename="labels.txt")],
                             max_batch=8, kind="KIND_CPU", backend="python", platform=None, comment="hello")
    config = validate_config(text)
    assert text.startswith("# hello\n") and config.backend == "python" and not config.platform
    assert config.instance_group[0].kind == config.instance_group[0].KIND_CPU


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()  # a zombie has exited already
    except FileNotFoundError:
        return False


def test_the_server_dies_with_the_process_that_started_it(tmp_path):
    import os
    import subprocess
    import sys
    import time

    from audiofront.errors import BackendUnavailable
    from audiofront.serve.tritonserver import find_tritonserver

    try:
        find_tritonserver()
    except BackendUnavailable as exc:
        pytest.skip(str(exc))
    # A driver that crashes (os._exit: no cleanup, no atexit) must not leave tritonserver running.
    code = ("import os, sys\nfrom audiofront.serve.tritonserver import TritonServer\n"
            "s = TritonServer(sys.argv[1]).start(timeout=30)\nprint(s.process.pid, flush=True)\nos._exit(3)\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    pid = int(done.stdout.split()[0])
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, 9)
        pytest.fail(f"tritonserver {pid} outlived the process that started it")


def test_a_missing_server_wheel_is_backend_unavailable_with_the_install_line(monkeypatch):
    import audiofront.serve.tritonserver as ts
    from audiofront.errors import BackendUnavailable

    monkeypatch.setattr(ts.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BackendUnavailable, match=r"pip install --no-deps nvidia-pytriton==0\.7\.0"):
        ts.find_tritonserver()


@pytest.mark.parametrize("model", ["single", "ens"])
def test_answers_over_grpc_equal_the_pipeline(triton, pipeline, model):
    grpcclient = pytest.importorskip("tritonclient.grpc", reason="the gRPC client needs tritonclient[grpc]")
    windows = _windows(TRITON_MAX_BATCH, 20)
    with grpcclient.InferenceServerClient(triton.grpc_url) as client:
        audio = grpcclient.InferInput("audio", list(windows.shape), "FP32")
        audio.set_data_from_numpy(windows)
        got = client.infer(model, [audio], outputs=[grpcclient.InferRequestedOutput("probabilities")])
        got = got.as_numpy("probabilities")
    if model == "ens":
        np.testing.assert_allclose(got, pipeline.predict(windows), rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, pipeline.predict(windows))
