"""``audiofront export`` end to end through audiofront.cli.main."""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import onnxruntime as ort
import pytest
import torch

from audiofront.cli import main
from audiofront.export import read_metadata
from audiofront.export.config import frontend_from_config
from audiofront.errors import ConfigError
from audiofront.models import KapreConvNet

CONFIG = {"type": "MelSpectrogram", "args": {"sample_rate": 8000, "n_fft": 256, "hop_length": 128, "n_mels": 80},
          "db": {"top_db": 80}}


@pytest.fixture()
def config_file(tmp_path):
    path = tmp_path / "fe.json"
    path.write_text(json.dumps(CONFIG))
    return path


def test_preset_export_prints_files_tables_and_parity(tmp_path, capsys):
    out = tmp_path / "stft.onnx"
    assert main(["export", "--preset", "kapre-stft", "--sample-rate", "16000", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}" in text and "sample_rate=16000" in text
    assert "TensorRT 10.15 op check" in text and "Conv" in text and "clean" in text
    diff = float(text.split("max abs diff ")[1].split()[0])
    assert diff < 1e-2
    assert read_metadata(out)["audiofront.n_bins"] == "257"


def test_config_plus_classifier_gives_a_pipeline(config_file, tmp_path, capsys):
    torch.manual_seed(0)
    net = KapreConvNet(n_classes=3, width=8).eval()
    cls = tmp_path / "cnn.onnx"
    torch.onnx.export(net, (torch.randn(1, 1, 80, 70),), str(cls), dynamo=False, opset_version=17,
                      input_names=["x"], dynamic_axes={"x": {0: "n", 3: "t"}})
    labels = tmp_path / "labels.txt"
    labels.write_text("dog\ncat\nbird\n")
    out = tmp_path / "pipe.onnx"
    assert main(["export", "--config", str(config_file), "--classifier", str(cls), "--labels", str(labels),
                 "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "pipe.frontend.onnx" in text and f"wrote {out}" in text
    meta = read_metadata(out)
    assert meta["audiofront.kind"] == "pipeline" and json.loads(meta["audiofront.labels"]) == ["dog", "cat", "bird"]
    audio = torch.randn(2, 9000) * 0.1
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"audio": audio.numpy()})[0]
    fe = frontend_from_config(CONFIG).eval()
    with torch.no_grad():
        want = net(fe(audio).unsqueeze(1)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_bad_classifier_fails_cleanly(config_file, tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    out = tmp_path / "pipe.onnx"
    assert main(["export", "--config", str(config_file), "--classifier", str(bad), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "bad.onnx" in err and "not an ONNX model" in err
    assert sorted(os.listdir(tmp_path)) == ["bad.onnx", "fe.json"]


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed")
def test_engine_without_tensorrt_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    code = main(["export", "--preset", "kapre-logmel", "-o", str(out), "--engine", str(tmp_path / "m.engine"), "--fp16"])
    assert code == 1
    assert "TensorRT is not installed" in capsys.readouterr().err
    assert not (tmp_path / "m.engine").exists()


@pytest.mark.parametrize("config, match", [
    ({"type": "Filterbank", "args": {}}, "type must be one of"),
    ({"type": "MelSpectrogram", "args": {"n_mels": 8}, "chain": []}, "exactly one"),
    ({"type": "Spectrogram", "args": {"n_fft": 256}}, "sample_rate"),
    ({"type": "MelSpectrogram", "args": {"sample_rate": 8000}, "sample_rate": 16000}, "disagrees"),
    ({"type": "MelSpectrogram", "args": {"bogus": 1}}, "bad arguments"),
    ({"type": "MelSpectrogram", "colour": "red"}, "unknown keys"),
])
def test_config_errors(config, match):
    with pytest.raises(ConfigError, match=match):
        frontend_from_config(config)


def test_config_chain_form(tmp_path):
    path = tmp_path / "chain.json"
    path.write_text(json.dumps({"sample_rate": 8000, "chain": [
        {"type": "Spectrogram", "args": {"n_fft": 256}}, {"type": "AmplitudeToDB", "args": {"top_db": 60}},
        {"type": "Normalize", "args": {"mode": "frequency"}}]}))
    fe = frontend_from_config(path)
    assert fe.sample_rate == 8000 and fe.n_bins == 129 and fe.name == "chain"
    with pytest.raises(ConfigError, match="not valid JSON"):
        (tmp_path / "broken.json").write_text("{")
        frontend_from_config(tmp_path / "broken.json")
