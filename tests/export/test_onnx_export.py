"""export_onnx: numbers (ORT vs torch vs librosa) on unseen shapes, metadata, graph inputs/outputs and opset."""

from __future__ import annotations

import librosa
import numpy as np
import onnx
import onnxruntime as ort
import torch

from audiofront import __version__
from audiofront.export import decode_metadata, eval_frames, read_metadata


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
