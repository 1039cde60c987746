"""``audiofront export``: --sample-rate with --config, a missing -o folder, no files after a failed --fp16."""

from __future__ import annotations

import json
import os

import pytest

from audiofront.cli import main
from audiofront.export import read_metadata

CONFIG = {"chain": [{"type": "MelSpectrogram", "args": {"n_fft": 128, "hop_length": 64, "n_mels": 16}},
                    {"type": "AmplitudeToDB", "args": {"top_db": 80}}]}


def test_sample_rate_flag_reaches_config_modules_and_missing_folder_is_created(tmp_path, capsys):
    config = tmp_path / "fe.json"
    config.write_text(json.dumps(CONFIG))
    out = tmp_path / "new" / "deeper" / "fe.onnx"
    assert main(["export", "--config", str(config), "--sample-rate", "22050", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"created folder {out.parent}" in text and f"wrote {out}" in text and ": ok" in text
    assert read_metadata(out)["audiofront.sample_rate"] == "22050"


def test_sample_rate_flag_must_agree_with_the_config(tmp_path, capsys):
    config = tmp_path / "fe.json"
    config.write_text(json.dumps({**CONFIG, "sample_rate": 16000}))
    assert main(["export", "--config", str(config), "--sample-rate", "8000", "-o", str(tmp_path / "x.onnx")]) == 1
    assert "--sample-rate 8000 disagrees" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["fe.json"]


def test_failed_fp16_leaves_no_files(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnxconverter_common", reason="onnxconverter-common is not installed")
    import torch

    from audiofront.errors import ExportError
    from audiofront.export import fp16

    cls = tmp_path / "cls.onnx"
    net = torch.nn.Sequential(torch.nn.Flatten(1), torch.nn.LazyLinear(3))
    net(torch.randn(1, 16, 20))
    torch.onnx.export(net.eval(), (torch.randn(1, 16, 20),), str(cls), dynamo=False, opset_version=17,
                      input_names=["x"], dynamic_axes={"x": {0: "n"}})
    config = tmp_path / "fe.json"
    config.write_text(json.dumps(CONFIG))

    def fail(*args, **kwargs):
        raise ExportError("simulated fp16 failure")

    monkeypatch.setattr(fp16, "to_fp16", fail)
    code = main(["export", "--config", str(config), "--classifier", str(cls), "-o", str(tmp_path / "pipe.onnx"),
                 "--fp16", "--sample-rate", "8000"])
    assert code == 1 and "simulated fp16 failure" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["cls.onnx", "fe.json"]
