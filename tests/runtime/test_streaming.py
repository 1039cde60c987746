"""Pipeline.stream answers per hop and, at the end, exactly what classify gives for the whole clip;
StreamSession drives a streaming step by its metadata contract and gives the offline frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from audiofront.errors import InputError, ModelFileError
from audiofront.export.streaming import STREAM_INPUTS, STREAM_OUTPUTS, streaming_metadata
from audiofront.export.metadata import write_metadata
from audiofront.frontend import AmplitudeToDB, ComputeDeltas, MelSpectrogram
from audiofront.frontend.streaming import StreamingStep, plan_stream
from audiofront.runtime import SlidingWindows, StreamSession, TensorSpec, TorchRunner, window_starts
from tests.runtime.conftest import CLIP


def _sizes(rng, total):
    sizes = []
    while sum(sizes) < total:
        sizes.append(int(rng.choice([1, int(rng.integers(1, 1000)), int(rng.integers(1000, 20000))])))
    return sizes


@pytest.mark.parametrize("length", [CLIP // 3, CLIP, CLIP + 1, 2 * CLIP + 4097])
def test_pipeline_stream_equals_classify(torch_pipeline, noise, length):
    rng = np.random.default_rng(length)
    audio = noise(3, length, seed=length)
    audio[1] *= 30.0
    stream = torch_pipeline.stream()
    per_hop, start = [], 0
    for size in _sizes(rng, length):
        per_hop += stream.push(audio[:, start:start + size])
        start += size
    per_hop += stream.flush()
    expected = torch_pipeline.classify(list(audio), top_k=3)
    got = stream.classifications(top_k=3)
    for i in range(3):
        assert [label for label, _ in got[i].top] == [label for label, _ in expected[i].top]
        np.testing.assert_allclose(got[i].probabilities, expected[i].probabilities, rtol=1e-5, atol=1e-6)
        assert got[i].windows == expected[i].windows
        # Each window's answer, in order, is that window's offline prediction.
        windows = torch_pipeline.prepare(audio[i])
        mine = [w for w in per_hop if w.stream == i]
        assert [w.start for w in mine] == window_starts(length, CLIP, torch_pipeline.hop)
        np.testing.assert_allclose(np.stack([w.probabilities for w in mine]), torch_pipeline.predict(windows),
                                   rtol=1e-5, atol=1e-6)


def test_sliding_windows_refuse_misuse():
    windows = SlidingWindows(100, 30)
    with pytest.raises(InputError, match="push at least one sample"):
        windows.flush()
    windows.push(np.zeros((2, 10), np.float32))
    with pytest.raises(InputError, match="2"):
        windows.push(np.zeros((3, 10), np.float32))
    with pytest.raises(InputError, match="float"):
        windows.push(np.zeros((2, 10), np.int16))
    windows.flush()
    with pytest.raises(InputError, match="reset"):
        windows.push(np.zeros((2, 10), np.float32))


def _step_session(frontend, chunk):
    plan = plan_stream(frontend)
    step = StreamingStep(frontend, plan).eval()
    meta = {"audiofront." + k: v for k, v in streaming_metadata(frontend, plan, sample_rate=16000, chunk_samples=chunk,
                                                                   center_start="reflect").items()}
    import onnx

    model = onnx.ModelProto()
    write_metadata(model, meta)  # the same strings an exported graph carries
    meta = {p.key: p.value for p in model.metadata_props}
    specs = [TensorSpec("audio_chunk", ("batch", chunk), np.float32), TensorSpec("state", ("batch", plan.state_size), np.float32),
             TensorSpec("valid_samples", ("batch",), np.int64)]
    runner = TorchRunner(step, input_specs=specs, output_names=list(STREAM_OUTPUTS))
    return StreamSession(runner, metadata=meta)


def test_stream_session_gives_the_offline_frames():
    frontend = nn.Sequential(MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160, n_mels=20),
                             AmplitudeToDB(), ComputeDeltas()).eval()
    rng = np.random.default_rng(5)
    with _step_session(frontend, 320) as session:
        assert session.latency_samples == 521 and tuple(STREAM_INPUTS)[0] == "audio_chunk"
        for batch, length in [(1, 401), (3, 3333)]:
            session.reset()
            audio = rng.standard_normal((batch, length)).astype(np.float32)
            parts, start = [], 0
            while start < length:
                size = min(_sizes(rng, 1)[0], 700)
                parts.append(session.push(audio[:, start:start + size]))
                start += size
            parts.append(session.flush())
            expected = frontend(torch.from_numpy(audio)).numpy()
            np.testing.assert_allclose(np.concatenate(parts, axis=-1), expected, rtol=1e-4, atol=1e-3)
        with pytest.raises(InputError, match="reset"):
            session.push(audio)
    with pytest.raises(ModelFileError, match="not a streaming graph"):
        StreamSession(TorchRunner(frontend), metadata={"audiofront.kind": "frontend"})
