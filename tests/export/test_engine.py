"""Engine building: the pure parts (cache key, shapes, sidecar, atomic writes, fp32 layer choice)
always; the TensorRT build itself only where TensorRT is installed."""

from __future__ import annotations

import importlib.util
import json
import os

import onnx
import pytest
from onnx import TensorProto, helper

from audiofront.errors import BackendUnavailable, ConfigError, ExportError
from audiofront.export import engine as eng
from audiofront.export import read_metadata

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
SHAPES = {"batch": (1, 4, 16), "time": (8000, 16000, 48000)}


@pytest.fixture()
def tiny_onnx(tmp_path):
    """A one-node graph with an audio input, enough to reach the TensorRT import."""
    graph = helper.make_graph([helper.make_node("Relu", ["audio"], ["features"])], "tiny",
                              [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", "time"])],
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", "time"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    path = tmp_path / "tiny.onnx"
    onnx.save(model, str(path))
    return path


def test_cache_key_is_deterministic_and_sensitive_to_every_part():
    base = ("ab" * 32, "10.15.1", "NVIDIA H100 80GB HBM3", "fp16", SHAPES)
    key = eng.engine_cache_key(*base)
    assert key == eng.engine_cache_key(*base)
    assert key == eng.engine_cache_key(*base[:4], {"time": [8000, 16000, 48000], "batch": [1, 4, 16]})
    variants = [("cd" * 32,) + base[1:], base[:1] + ("10.16.0",) + base[2:], base[:2] + ("NVIDIA A100",) + base[3:],
                base[:3] + ("fp32",) + base[4:], base[:4] + ({"batch": (1, 4, 16), "time": (8000, 16000, 48001)},)]
    keys = {eng.engine_cache_key(*v) for v in variants}
    assert len(keys) == len(variants) and key not in keys


@pytest.mark.parametrize("shapes, match", [
    ({"batch": (1, 2, 3)}, "keys"),
    ({"batch": (1, 2), "time": (1, 2, 3)}, "three positive"),
    ({"batch": (4, 2, 8), "time": (1, 2, 3)}, "min <= opt <= max"),
    ({"batch": (0, 2, 8), "time": (1, 2, 3)}, "positive"),
])
def test_bad_shapes(shapes, match):
    with pytest.raises(ConfigError, match=match):
        eng.normalize_shapes(shapes)


def test_profile_shapes_maps_batch_and_time_and_keeps_fixed_axes():
    shapes = eng.normalize_shapes(SHAPES)
    assert eng.profile_shapes(["batch", "time"], shapes) == ((1, 8000), (4, 16000), (16, 48000))
    assert eng.profile_shapes(["batch", 2, "time"], shapes) == ((1, 2, 8000), (4, 2, 16000), (16, 2, 48000))
    assert eng.profile_shapes([4, "time"], shapes) == ((4, 8000), (4, 16000), (4, 48000))
    with pytest.raises(ConfigError, match="fixed at 32"):
        eng.profile_shapes([32, "time"], shapes)
    with pytest.raises(ConfigError, match="axis 1 is dynamic"):
        eng.profile_shapes(["batch", "c", "time"], shapes)


def test_default_shapes_follow_metadata():
    pipeline = {"audiofront.kind": "pipeline", "audiofront.sample_rate": "16000", "audiofront.clip_samples": "15872"}
    assert eng.default_shapes(pipeline)["time"] == (15872, 15872, 15872)
    frontend = {"audiofront.kind": "frontend", "audiofront.sample_rate": "16000", "audiofront.n_fft": "512"}
    assert eng.default_shapes(frontend) == {"batch": (1, 8, 32), "time": (512, 16000, 480000)}


@pytest.mark.parametrize("name", ["ast", "whisper-80"])
def test_default_profile_of_a_self_fitting_preset_pipeline_takes_short_clips(name, exported_preset):
    """A preset pipeline pads to its model's length itself: the profile runs from one frame's worth
    (AST's 400 samples, from its frames law) or one sample (Whisper pads samples) to clip_samples, so
    the Pipeline's unpadded short clips fit; a streaming graph of the same keys stays fixed."""
    from audiofront.export.metadata import clip_for_frames, eval_frames

    meta = dict(read_metadata(exported_preset(name)[1]))
    clip = 164080 if name == "ast" else 480000
    meta.update({"audiofront.kind": "pipeline", "audiofront.clip_samples": str(clip)})
    low, opt, high = eng.default_shapes(meta)["time"]
    assert (opt, high) == (clip, clip)
    if name == "ast":
        assert low == clip_for_frames(meta["audiofront.frames"], 1) == 400
        assert eval_frames(meta["audiofront.frames"], low - 1) < 1
    else:
        assert low == 1
    meta["audiofront.streaming"] = "true"
    assert eng.default_shapes(meta)["time"] == (clip, clip, clip)


def test_write_engine_and_cache_validity(tmp_path):
    path = tmp_path / "m.engine"
    eng.write_engine(path, b"engine-bytes", {"audiofront.engine_key": "k1", "audiofront.onnx_sha256": "x"})
    assert path.read_bytes() == b"engine-bytes"
    assert json.loads(eng.sidecar_path(path).read_text())["audiofront.onnx_sha256"] == "x"
    assert eng.cached_engine_valid(path, "k1") and not eng.cached_engine_valid(path, "k2")
    assert sorted(os.listdir(tmp_path)) == ["m.engine", "m.engine.json"]


def test_failed_write_leaves_old_engine_untrusted_and_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "m.engine"
    eng.write_engine(path, b"old", {"audiofront.engine_key": "old"})

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        eng.write_engine(path, b"new", {"audiofront.engine_key": "new"})
    monkeypatch.undo()
    # The old bytes stay whole; without their sidecar they are no longer a cache hit for any key.
    assert path.read_bytes() == b"old"
    assert not eng.cached_engine_valid(path, "old") and not eng.cached_engine_valid(path, "new")
    assert sorted(os.listdir(tmp_path)) == ["m.engine"]


def test_frontend_layers_are_the_ancestors_of_the_features():
    layers = [
        (["audio"], ["shape"]),            # 0 front-end (shape arithmetic)
        (["audio", "shape"], ["framed"]),  # 1 front-end
        (["framed"], ["features"]),        # 2 front-end output
        (["features"], ["unsq"]),          # 3 layout
        (["unsq", "w"], ["conv"]),         # 4 classifier
        (["conv"], ["logits"]),            # 5 classifier
        (["audio"], ["unused_side"]),      # 6 not an ancestor of the features
    ]
    assert eng.frontend_layer_indices(layers, "features") == {0, 1, 2}
    assert eng.frontend_layer_indices(layers, None) == set(range(7))
    with pytest.raises(ExportError, match="nope"):
        eng.frontend_layer_indices(layers, "nope")


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed: the missing-backend message cannot be shown")
def test_build_engine_without_tensorrt_says_so(tiny_onnx, tmp_path):
    with pytest.raises(BackendUnavailable, match="TensorRT is not installed"):
        eng.build_engine(tiny_onnx, tmp_path / "m.engine", shapes=SHAPES)
    assert not (tmp_path / "m.engine").exists()


def test_build_engine_checks_arguments_first(tiny_onnx, tmp_path):
    with pytest.raises(ConfigError, match="precision"):
        eng.build_engine(tiny_onnx, tmp_path / "m.engine", precision="int8")
    with pytest.raises(ConfigError, match="workspace"):
        eng.build_engine(tiny_onnx, tmp_path / "m.engine", workspace=10)
    with pytest.raises(ConfigError, match="shapes"):
        eng.build_engine(tiny_onnx, tmp_path / "m.engine", shapes={"batch": (1, 1, 1)})
    assert os.listdir(tmp_path) == ["tiny.onnx"]


@pytest.mark.tensorrt
@pytest.mark.skipif(not HAS_TENSORRT, reason="TensorRT is not installed")
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_build_engine_and_reuse(logmel_onnx, tmp_path, precision):
    engine = tmp_path / "m.engine"
    timing = tmp_path / "timing.cache"
    eng.build_engine(logmel_onnx, engine, precision=precision, shapes=SHAPES, timing_cache=timing,
                     cache_dir=tmp_path / "cache")
    side = eng.read_sidecar(engine)
    assert side["audiofront.kind"] == "frontend" and len(side["audiofront.onnx_sha256"]) == 64
    assert timing.stat().st_size > 0
    before = engine.stat().st_mtime_ns
    eng.build_engine(logmel_onnx, engine, precision=precision, shapes=SHAPES)
    assert engine.stat().st_mtime_ns == before  # cache hit: not rebuilt
