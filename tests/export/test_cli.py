"""``audiofront export`` of a front-end through audiofront.cli.main, and JSON front-end configs."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest

from audiofront.cli import main
from audiofront.export import read_metadata
from audiofront.export.config import frontend_from_config
from audiofront.errors import ConfigError

def test_preset_export_prints_files_tables_and_parity(tmp_path, capsys):
    out = tmp_path / "stft.onnx"
    assert main(["export", "--preset", "kapre-stft", "--sample-rate", "16000", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}" in text and "sample_rate=16000" in text
    assert "TensorRT 10.15 op check" in text and "Conv" in text and "clean" in text
    diff = float(text.split("max abs diff ")[1].split()[0])
    assert diff < 1e-2
    assert read_metadata(out)["audiofront.n_bins"] == "257"


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed")
def test_engine_without_tensorrt_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    code = main(["export", "--preset", "kapre-logmel", "-o", str(out), "--engine", str(tmp_path / "m.engine"), "--fp16"])
    assert code == 1
    assert "TensorRT is not installed" in capsys.readouterr().err
    assert not (tmp_path / "m.engine").exists()


def test_fp16_variant_needs_a_classifier(tmp_path, capsys):
    assert main(["export", "--preset", "kapre-logmel", "-o", str(tmp_path / "m.onnx"), "--fp16"]) == 1
    assert "needs --classifier" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


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
