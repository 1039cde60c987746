"""``audiofront triton``: the generated repository parses with Triton's own ModelConfig protobuf,
names the models' real tensors, and its dims are the shapes onnxruntime sees when it runs them."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from audiofront.errors import ConfigError, ModelFileError
from audiofront.export import read_metadata, write_metadata
from audiofront.export.triton import validate_config, write_model_repository

from tests.artifacts import CLIP_SAMPLES, LABELS, distinct_signals

pytest.importorskip("tritonclient", reason="tritonclient (the serve extra) holds Triton's ModelConfig protobuf")
text_format = pytest.importorskip("google.protobuf.text_format", reason="protobuf parses config.pbtxt")


def _io(path):
    model = onnx.load(str(path))
    return model.graph.input[0].name, model.graph.output[0].name


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_single_repository_parses_and_matches_the_model(tmp_path, onnx_parts):
    (config_path,) = write_model_repository(onnx_parts["pipeline"], tmp_path, name="piano", max_batch=8,
                                            instances=2, kind="KIND_CPU", max_wait_ms=2.5)
    config = validate_config(config_path.read_text())
    assert config.name == "piano" and config.platform == "onnxruntime_onnx" and config.max_batch_size == 8
    assert config.dynamic_batching.max_queue_delay_microseconds == 2500
    assert [(g.count, g.kind) for g in config.instance_group] == [(2, config.instance_group[0].KIND_CPU)]
    in_name, out_name = _io(onnx_parts["pipeline"])
    (inp,), (out,) = config.input, config.output
    assert (inp.name, list(inp.dims), out.name, list(out.dims)) == (in_name, [CLIP_SAMPLES], out_name, [len(LABELS)])
    assert "data_type: TYPE_FP32" in text_format.MessageToString(inp)
    assert "data_type: TYPE_FP32" in text_format.MessageToString(out)
    folder = tmp_path / "piano"
    assert (folder / out.label_filename).read_text().splitlines() == LABELS
    # The copied model is the original, and a batch shaped as the config says runs to the output dims.
    assert (folder / "1" / "model.onnx").read_bytes() == onnx_parts["pipeline"].read_bytes()
    batch = np.stack(distinct_signals(3))
    (y,) = _session(folder / "1" / "model.onnx").run(None, {inp.name: batch})
    assert y.shape == (3, *out.dims)


def test_ensemble_chains_frontend_and_classifier_like_the_pipeline(tmp_path, onnx_parts):
    paths = write_model_repository(None, tmp_path, name="piano", ensemble=True, frontend=onnx_parts["frontend"],
                                   classifier=onnx_parts["classifier"], max_batch=16)
    ens, front, clf = (validate_config(p.read_text()) for p in paths)
    assert ens.platform == "ensemble" and front.name == "piano_frontend" and clf.name == "piano_classifier"
    assert all(c.max_batch_size == 16 for c in (ens, front, clf))
    assert front.HasField("dynamic_batching") and clf.HasField("dynamic_batching") and not ens.HasField("dynamic_batching")
    assert len(front.instance_group) == len(clf.instance_group) == 1 and not ens.instance_group
    f_in, f_out = _io(onnx_parts["frontend"])
    c_in, c_out = _io(onnx_parts["classifier"])
    steps = ens.ensemble_scheduling.step
    assert [s.model_name for s in steps] == ["piano_frontend", "piano_classifier"]
    # The ensemble's tensors flow audio -> front-end -> classifier -> probabilities.
    assert dict(steps[0].input_map) == {f_in: ens.input[0].name}
    assert dict(steps[1].input_map) == {c_in: dict(steps[0].output_map)[f_out]}
    assert dict(steps[1].output_map) == {c_out: ens.output[0].name}
    assert list(ens.input[0].dims) == list(front.input[0].dims) == [CLIP_SAMPLES]
    assert list(ens.output[0].dims) == list(clf.output[0].dims) == [len(LABELS)]
    assert list(front.output[0].dims) == list(clf.input[0].dims)
    assert list(clf.input[0].reshape.shape) == [1, *front.output[0].dims]

    # Run the two stages as Triton would (reshape included) and compare with the prepended model.
    audio = np.stack(distinct_signals(4, seed=1))
    (features,) = _session(tmp_path / "piano_frontend/1/model.onnx").run(None, {front.input[0].name: audio})
    assert features.shape == (4, *front.output[0].dims)
    (probs,) = _session(tmp_path / "piano_classifier/1/model.onnx").run(
        None, {clf.input[0].name: features.reshape(4, *clf.input[0].reshape.shape)})
    (expected,) = _session(onnx_parts["pipeline"]).run(None, {"audio": audio})
    np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-5)
    assert (tmp_path / "piano" / "1").is_dir() and (tmp_path / "piano" / ens.output[0].label_filename).is_file()


def test_refusals(tmp_path, onnx_parts):
    with pytest.raises(ModelFileError, match="kind='frontend'"):
        write_model_repository(onnx_parts["frontend"], tmp_path)
    with pytest.raises(ConfigError, match="frontend= and classifier="):
        write_model_repository(onnx_parts["pipeline"], tmp_path, ensemble=True)
    with pytest.raises(ConfigError, match="kind must be one of"):
        write_model_repository(onnx_parts["pipeline"], tmp_path, kind="KIND_TPU")
    with pytest.raises(ConfigError, match="max_batch"):
        write_model_repository(onnx_parts["pipeline"], tmp_path, max_batch=0)
    write_model_repository(onnx_parts["pipeline"], tmp_path, name="m")
    with pytest.raises(ConfigError, match="exists"):
        write_model_repository(onnx_parts["pipeline"], tmp_path, name="m")
    write_model_repository(onnx_parts["pipeline"], tmp_path, name="m", overwrite=True)
    # A model whose metadata lacks the window length cannot get fixed input dims.
    model = onnx.load(str(onnx_parts["pipeline"]))
    meta = read_metadata(model)
    write_metadata(model, {"clip_samples": None})
    bare = tmp_path / "bare.onnx"
    onnx.save(model, str(bare))
    with pytest.raises(ModelFileError, match="clip_samples"):
        write_model_repository(bare, tmp_path)
    assert not (tmp_path / "bare").exists() and meta["audiofront.clip_samples"] == str(CLIP_SAMPLES)
    with pytest.raises(ModelFileError, match="not a readable ONNX"):
        (tmp_path / "junk.onnx").write_bytes(b"not a model")
        write_model_repository(tmp_path / "junk.onnx", tmp_path)


def test_validate_config_rejects_a_wrong_field():
    with pytest.raises(text_format.ParseError):
        validate_config('name: "x"\nmax_batch: 4\n')
