"""The exported streaming graph, driven chunk by chunk on onnxruntime by its metadata contract alone,
gives the offline frames; its shapes are fixed but for the batch of streams; bad arguments are refused."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from audiofront.errors import ConfigError
from audiofront.export import check_tensorrt, read_metadata
from audiofront.export.hygiene import value_dims
from audiofront.export.streaming import export_streaming_onnx
from audiofront.frontend import AmplitudeToDB, ComputeDeltas, MelSpectrogram, Normalize, Spectrogram, kapre_logmel
from audiofront.frontend import preset as get_preset
from audiofront.frontend.streaming import Streaming


def _deltas_chain():
    mel = MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160, n_mels=24)
    return nn.Sequential(mel, AmplitudeToDB(), ComputeDeltas()).eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Two graphs: a centred log-mel with deltas (20 ms chunks) and the kapre preset without top_db (one hop)."""
    folder = tmp_path_factory.mktemp("stream")
    chain = _deltas_chain()
    preset = kapre_logmel(16000, n_mels=32, top_db=None).eval()  # Kapre's 80 dB range needs the whole item
    kaldi = get_preset("kaldi-fbank")[0].eval()
    return {
        "deltas": (chain, export_streaming_onnx(chain, folder / "deltas.onnx", chunk_samples=320, sample_rate=16000)),
        "preset": (preset, export_streaming_onnx(preset, folder / "preset.onnx", chunk_samples=256)),
        # The kaldi-fbank preset's fbank stage (frames last; the preset then only transposes).
        "kaldi": (kaldi, export_streaming_onnx(kaldi, folder / "kaldi.onnx", chunk_samples=160, sample_rate=16000)),
    }


def _drive(path, audio: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Run the graph as its metadata says: prefix zeros, fixed chunks, valid_samples at the end, pre-roll dropped."""
    meta = read_metadata(path)
    chunk = int(meta["audiofront.stream_chunk_samples"])
    per_chunk = int(meta["audiofront.stream_frames_per_chunk"])
    first = int(meta["audiofront.stream_first_frame"])
    prefix = int(meta["audiofront.stream_prefix_samples"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch, total_samples = audio.shape
    frames_formula = meta["audiofront.frames"]
    total = int(eval(frames_formula, {"__builtins__": {}}, {"time": total_samples}))
    state = np.zeros((batch, int(meta["audiofront.stream_state_size"])), np.float32)
    pending = np.zeros((batch, prefix), np.float32)
    calls, out = 0, []

    def run(block, valid):
        nonlocal state, calls
        features, state = session.run(None, {"audio_chunk": block, "state": state,
                                             "valid_samples": np.full(batch, valid, np.int64)})
        index = calls * per_chunk + first + np.arange(per_chunk)
        calls += 1
        out.append(features[..., (index >= 0) & (index < total)])

    start = 0
    for size in sizes:  # the caller's chunk sizes, re-cut to the graph's fixed size
        pending = np.concatenate([pending, audio[:, start:start + size]], axis=1)
        start += size
        while pending.shape[1] >= chunk:
            run(pending[:, :chunk], chunk)
            pending = pending[:, chunk:]
    valid = pending.shape[1]
    run(np.pad(pending, ((0, 0), (0, chunk - valid))), valid)
    while sum(o.shape[-1] for o in out) < total:
        run(np.zeros((batch, chunk), np.float32), 0)
    return np.concatenate(out, axis=-1)


def _sizes(rng, total):
    sizes = []
    while sum(sizes) < total:
        sizes.append(int(rng.choice([1, int(rng.integers(1, 160)), int(rng.integers(160, 2000))])))
    return sizes


@pytest.mark.parametrize("name", ["deltas", "preset", "kaldi"])
def test_graph_on_onnxruntime_equals_offline(exported, name):
    module, path = exported[name]
    rng = np.random.default_rng(7)
    for batch, length, scale in [(1, 4001, 1.0), (3, 2345, 0.1), (2, 513, 1e3)]:
        audio = (rng.standard_normal((batch, length)) * scale).astype(np.float32)
        if batch == 3:
            audio[1] = 0.0
        expected = module(torch.from_numpy(audio)).numpy()
        got = _drive(path, audio, _sizes(rng, length))
        assert got.shape == expected.shape
        scale_out = float(np.abs(expected).max()) or 1.0
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=2e-4 * scale_out)
    # Torch's Streaming gives the same frames (one algorithm).
    audio = rng.standard_normal((2, 1500)).astype(np.float32)
    stream = Streaming(module)
    torch_frames = torch.cat([stream.push(torch.from_numpy(audio)), stream.flush()], dim=-1).numpy()
    np.testing.assert_allclose(_drive(path, audio, [1500]), torch_frames, rtol=1e-4, atol=1e-3)


def test_streams_in_a_batch_are_independent_on_onnxruntime(exported):
    _, path = exported["deltas"]
    rng = np.random.default_rng(3)
    audio = rng.standard_normal((3, 1800)).astype(np.float32)
    together = _drive(path, audio, [1800])
    loud = audio.copy()
    loud[1] *= 1e4
    apart = _drive(path, loud, [1800])
    for i in (0, 2):
        np.testing.assert_allclose(apart[i], together[i], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(_drive(path, audio[i:i + 1], [1800])[0], together[i], rtol=1e-5, atol=1e-4)


def test_graph_shapes_metadata_and_tensorrt_ops(exported):
    module, path = exported["deltas"]
    model = onnx.load(str(path))
    dims = {v.name: value_dims(v) for v in list(model.graph.input) + list(model.graph.output)}
    meta = read_metadata(path)
    size = int(meta["audiofront.stream_state_size"])
    assert dims["audio_chunk"][1:] == [320] and isinstance(dims["audio_chunk"][0], str)
    assert dims["state"][1:] == [size] and dims["next_state"][1:] == [size]
    assert dims["valid_samples"] == dims["audio_chunk"][:1]
    assert dims["features"][1:] == [24, 2]
    layout = json.loads(meta["audiofront.stream_state"])
    assert sum(slot["size"] for slot in layout) == size and layout[0]["name"] == "samples_seen"
    assert meta["audiofront.streaming"] == "true" and meta["audiofront.stream_hop"] == "160"
    assert int(meta["audiofront.stream_latency_samples"]) == Streaming(module).latency_samples
    assert check_tensorrt(str(path)).ok
    assert not {"Loop", "Scan", "If", "STFT", "DFT"} & {n.op_type for n in model.graph.node}


def test_prepend_a_frame_wise_classifier(exported, tmp_path):
    from audiofront.export import prepend
    from audiofront.runtime import StreamSession

    module, path = exported["deltas"]
    torch.manual_seed(0)
    classifier = nn.Sequential(nn.Conv1d(24, 5, 1), nn.Softmax(dim=1)).eval()  # (batch, bins, frames) -> per frame
    cls_path = tmp_path / "frames.onnx"
    torch.onnx.export(classifier, (torch.zeros(1, 24, 2),), str(cls_path), dynamo=False, input_names=["x"],
                      output_names=["probs"], dynamic_axes={"x": {0: "n"}, "probs": {0: "n"}}, opset_version=18)
    pipe = prepend(path, cls_path, tmp_path / "stream_pipe.onnx", layout="batch,bins,frames",
                   output_layout="batch,classes,frames", labels=list("abcde"))
    model = onnx.load(str(pipe))
    assert [o.name for o in model.graph.output] == ["probs", "next_state"]
    assert read_metadata(pipe)["audiofront.clip_samples"] == "320"
    audio = np.random.default_rng(2).standard_normal((2, 2000)).astype(np.float32)
    with StreamSession(pipe) as session:
        got = np.concatenate([session.push(audio[:, :777]), session.push(audio[:, 777:]), session.flush()], axis=-1)
    with torch.no_grad():
        expected = classifier(module(torch.from_numpy(audio))).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_bad_arguments_are_refused(tmp_path):
    chain = _deltas_chain()
    for bad in (0, 100, 161, 320.0, True):
        with pytest.raises(ConfigError, match="chunk_samples must be a positive multiple of the front-end's hop \\(160"):
            export_streaming_onnx(chain, tmp_path / "x.onnx", chunk_samples=bad)
    with pytest.raises(ConfigError, match="Normalize"):
        export_streaming_onnx(nn.Sequential(Spectrogram(), Normalize()), tmp_path / "x.onnx", chunk_samples=200)
    with pytest.raises(ConfigError, match="sample_rate"):
        export_streaming_onnx(Spectrogram(hop_length=160), tmp_path / "x.onnx", chunk_samples=160)
    assert not (tmp_path / "x.onnx").exists()
