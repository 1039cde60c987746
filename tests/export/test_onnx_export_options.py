"""export_onnx options and refusals: channel inputs, fixed axes, unreachable opsets, bad arguments."""

from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from audiofront.errors import ConfigError, ExportError, InputError
from audiofront.export import eval_frames, export_onnx, read_metadata
from audiofront.frontend import MelSpectrogram, Spectrogram


def run_ort(path, audio: np.ndarray, name: str = "audio") -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {name: audio})[0]


def test_channels_input_and_uncentred_metadata(tmp_path):
    spec = Spectrogram(n_fft=256, hop_length=100, center=False)
    audio = torch.randn(2, 3, 4000)
    path = export_onnx(spec, tmp_path / "spec.onnx", sample_input=audio, sample_rate=8000)
    meta = read_metadata(path)
    assert meta["audiofront.input_layout"] == "batch,channels,time"
    assert meta["audiofront.output_layout"] == "batch,channels,bins,frames"
    assert meta["audiofront.center"] == "false" and "audiofront.n_mels" not in meta
    unseen = torch.randn(1, 3, 5001) * 0.1
    got = run_ort(path, unseen.numpy())
    want = spec(unseen).numpy()
    assert got.shape == want.shape == (1, 3, 129, eval_frames(meta["audiofront.frames"], 5001))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_fixed_axes_when_asked(tmp_path):
    mel = MelSpectrogram(sample_rate=8000, n_fft=256, n_mels=32)
    path = export_onnx(mel, tmp_path / "fixed.onnx", sample_input=torch.randn(2, 4000), dynamic_batch=False,
                       dynamic_time=False)
    inp = onnx.load(str(path)).graph.input[0]
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim] == [2, 4000]


def test_unreachable_opset_is_one_clear_error_and_no_file(tmp_path):
    mel = MelSpectrogram(sample_rate=8000, n_fft=256, n_mels=32).train()
    target = tmp_path / "old.onnx"
    with pytest.raises(ExportError, match=r"old\.onnx.*opset 17.*Pad"):
        export_onnx(mel, target, opset=17)
    assert os.listdir(tmp_path) == []
    assert mel.training  # export runs in eval mode and restores the caller's mode, even on error


@pytest.mark.parametrize("kwargs, error, match", [
    ({"opset": 3}, ConfigError, "opset"),
    ({"sample_rate": 22050}, ConfigError, "disagrees"),
    ({"sample_input": torch.randn(1, 1, 1, 16000)}, InputError, "rank"),
    ({"sample_input": torch.zeros(2, 16000, dtype=torch.int16)}, InputError, "float"),
    ({"sample_input": torch.randn(2, 100)}, InputError, "at least"),
    ({"output_name": "0.mel_scale.fb"}, ConfigError, "buffers"),
    ({"input_name": "x", "output_name": "x"}, ConfigError, "differ"),
])
def test_bad_arguments(logmel, tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        export_onnx(logmel, tmp_path / "bad.onnx", **kwargs)
    assert not (tmp_path / "bad.onnx").exists()


def test_module_without_sample_rate_needs_one(tmp_path):
    with pytest.raises(ConfigError, match="sample_rate is needed"):
        export_onnx(Spectrogram(n_fft=256), tmp_path / "s.onnx")
    with pytest.raises(ConfigError, match="no Spectrogram"):
        export_onnx(torch.nn.Identity(), tmp_path / "s.onnx", sample_rate=16000)
