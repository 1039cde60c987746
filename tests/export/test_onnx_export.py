"""export_onnx: numbers (ORT vs torch vs librosa), metadata, opsets, bad arguments, atomic output."""

from __future__ import annotations

import os

import librosa
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from audiofront import __version__
from audiofront.errors import ConfigError, ExportError, InputError
from audiofront.export import decode_metadata, eval_frames, export_onnx, read_metadata
from audiofront.frontend import MelSpectrogram, Spectrogram


def run_ort(path, audio: np.ndarray, name: str = "audio") -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {name: audio})[0]


def librosa_logmel(audio: np.ndarray, sr: int, n_mels: int, top_db: float) -> np.ndarray:
    out = []
    for item in audio.astype(np.float64):
        mel = librosa.feature.melspectrogram(y=item, sr=sr, n_fft=512, hop_length=256, n_mels=n_mels, htk=True, norm=None,
                                             center=True, pad_mode="reflect", power=2.0)
        out.append(librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=top_db))
    return np.stack(out)


def test_ort_matches_torch_and_librosa_on_unseen_batch_and_length(logmel, logmel_onnx, unseen_audio):
    got = run_ort(logmel_onnx, unseen_audio.numpy())
    with torch.no_grad():
        want_torch = logmel(unseen_audio).numpy()
    want_librosa = librosa_logmel(unseen_audio.numpy(), 16000, 96, 80.0)
    assert got.shape == want_torch.shape == want_librosa.shape == (3, 96, 1 + 12345 // 256)
    assert np.abs(got - want_torch).max() < 2e-3
    # dB of float32 against float64: ~1e-4 typical, more near the -80 dB floor.
    assert np.abs(got - want_librosa).max() < 2e-2
    assert np.median(np.abs(got - want_librosa)) < 1e-3


def test_batch_invariance_in_ort(logmel_onnx, unseen_audio):
    batch = run_ort(logmel_onnx, unseen_audio.numpy())
    single = run_ort(logmel_onnx, unseen_audio[1:2].numpy())
    np.testing.assert_allclose(batch[1:2], single, atol=1e-4)


def test_metadata_follows_contract(logmel_onnx):
    meta = read_metadata(logmel_onnx)
    assert meta == {
        "audiofront.version": __version__, "audiofront.kind": "frontend", "audiofront.sample_rate": "16000",
        "audiofront.n_fft": "512", "audiofront.hop_length": "256", "audiofront.center": "true",
        "audiofront.n_mels": "96", "audiofront.n_bins": "96", "audiofront.input_layout": "batch,time",
        "audiofront.output_layout": "batch,bins,frames", "audiofront.frames": "1 + (time + 2*256 - 512) // 256",
    }
    info = decode_metadata(meta)
    assert info["sample_rate"] == 16000 and info["center"] is True and info["n_mels"] == 96
    for length in (257, 1000, 12345, 16000):
        assert eval_frames(meta["audiofront.frames"], length) == 1 + length // 256


def test_graph_io_and_opset(logmel_onnx):
    model = onnx.load(str(logmel_onnx))
    assert [o.version for o in model.opset_import if o.domain == ""] == [18]
    dims = [[d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in (model.graph.input[0], model.graph.output[0])]
    assert dims == [["batch", "time"], ["batch", 96, "frames"]]
    onnx.checker.check_model(model, full_check=True)


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
