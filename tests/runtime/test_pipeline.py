"""Pipeline: same probabilities on every backend here, batch invariance across runners, windows averaged,
bad items isolated, model files that are not what their metadata says refused.

Tolerances: ONNX Runtime CPU vs torch CPU probabilities within atol 1e-5 (softmax of float32 logits
that agree to ~1e-6 here).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.special import softmax

from audiofront.errors import BackendUnavailable, ConfigError, InputError, ModelFileError
from audiofront.runtime import Classification, Pipeline
from audiofront.runtime.backends import backend_status

from .conftest import CLIP, LABELS, SAMPLE_RATE, make_modules, rewrite_metadata, simulate_probe

PROB_TOL = dict(rtol=0, atol=1e-5)


def test_attributes(onnx_pipeline, torch_pipeline):
    for p in (onnx_pipeline, torch_pipeline):
        assert (p.sample_rate, p.clip_samples, p.labels, p.n_classes) == (SAMPLE_RATE, CLIP, LABELS, len(LABELS))
        assert p.backend_reason
    assert onnx_pipeline.backend == "onnxruntime-cpu" and torch_pipeline.backend == "torch-cpu"


def test_auto_picks_the_best_backend_here_and_says_why(artifacts):
    with Pipeline.load(artifacts["pipeline"]) as p:
        expected = "onnxruntime-cuda" if backend_status("onnxruntime-cuda").usable else "onnxruntime-cpu"
        assert p.backend == expected
        assert p.backend_reason.startswith(expected) and "tensorrt: runs .engine files" in p.backend_reason


def test_backends_agree(onnx_pipeline, torch_pipeline, noise):
    x = noise(5)
    a, b = onnx_pipeline.predict(x), torch_pipeline.predict(x)
    assert a.shape == (5, len(LABELS)) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, **PROB_TOL)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, atol=1e-6)


def test_logits_become_softmax_probabilities(onnx_pipeline, noise):
    x = noise(3)
    logits = onnx_pipeline.runner.infer({"audio": x})[onnx_pipeline.output_name]
    np.testing.assert_allclose(onnx_pipeline.predict(x), softmax(logits.astype(np.float64), axis=1), atol=1e-6)


@pytest.mark.parametrize("max_batch_size", [1, 3, 32])
def test_batch_invariance_across_runners(artifacts, modules, noise, max_batch_size):
    x = noise(7, seed=3)
    frontend, classifier = modules
    with Pipeline.load(artifacts["pipeline"], "onnxruntime-cpu", max_batch_size=max_batch_size) as a, \
            Pipeline.from_torch(frontend, classifier, labels=LABELS, clip_samples=CLIP, max_batch_size=max_batch_size) as b:
        reference = np.concatenate([b.predict(x[i: i + 1]) for i in range(7)])
        for p in (a, b):
            np.testing.assert_allclose(p.predict(x), reference, **PROB_TOL)
            np.testing.assert_allclose(p.predict(x[2:5]), reference[2:5], **PROB_TOL)


def test_empty_batch(onnx_pipeline):
    assert onnx_pipeline.predict(np.zeros((0, CLIP), np.float32)).shape == (0, len(LABELS))


@pytest.mark.parametrize(
    "windows, message",
    [
        (np.zeros((2, CLIP - 1), np.float32), "shape \\(batch, 16384\\)"),
        (np.zeros(CLIP, np.float32), "shape \\(batch, 16384\\)"),
        (np.zeros((1, CLIP), np.int16), "float samples"),
        (np.full((1, CLIP), np.nan, np.float32), "NaN"),
        ("audio.wav", "numpy array"),
    ],
)
def test_predict_refuses_bad_windows(onnx_pipeline, windows, message):
    with pytest.raises(InputError, match=message):
        onnx_pipeline.predict(windows)


def test_prepare_windows_and_classify_averages(onnx_pipeline, noise):
    clip = noise(1, length=3 * CLIP + 100)[0]
    windows = onnx_pipeline.prepare(clip)
    assert windows.shape == (6, CLIP)  # starts 0, h, 2h, 3h, 4h and one aligned with the end
    (result,) = onnx_pipeline.classify(clip, sample_rate=SAMPLE_RATE, top_k=3)
    expected = onnx_pipeline.predict(windows).mean(axis=0)
    np.testing.assert_allclose(result.probabilities, expected, atol=1e-6)
    assert result.windows == 6 and result.error is None and len(result.top) == 3
    assert result.top[0] == (LABELS[int(np.argmax(expected))], pytest.approx(float(expected.max()), abs=1e-6))
    assert [p for _, p in result.top] == sorted((p for _, p in result.top), reverse=True)


def test_prepare_resampled_sine_keeps_its_frequency(onnx_pipeline):
    rate, freq = 44100, 1234.0
    t = np.arange(rate) / rate
    windows = onnx_pipeline.prepare(np.sin(2 * np.pi * freq * t).astype(np.float32), sample_rate=rate)
    for row in windows:
        spectrum = np.abs(np.fft.rfft(row.astype(np.float64) * np.hanning(CLIP)))
        assert abs(np.fft.rfftfreq(CLIP, 1 / SAMPLE_RATE)[np.argmax(spectrum)] - freq) <= SAMPLE_RATE / CLIP


def test_a_clip_classified_at_another_rate_matches_the_model_rate(onnx_pipeline):
    """The same tone at 48 kHz (resampled by the pipeline) and at 16 kHz: nearly the same probabilities."""
    freq, n = 440.0, 2 * SAMPLE_RATE
    at16 = (0.3 * np.sin(2 * np.pi * freq * np.arange(n) / SAMPLE_RATE)).astype(np.float32)
    at48 = (0.3 * np.sin(2 * np.pi * freq * np.arange(3 * n) / 48000)).astype(np.float32)
    a = onnx_pipeline.classify([at16], sample_rate=SAMPLE_RATE)[0].probabilities
    b = onnx_pipeline.classify([at48], sample_rate=48000)[0].probabilities
    np.testing.assert_allclose(a, b, atol=1e-3)


def test_classify_files_of_several_formats_and_isolates_bad_items(onnx_pipeline, tmp_path, noise):
    good = []
    # int16 samples: WAV and FLAC then store the very same PCM (float input is rounded differently per format)
    tone = (9000 * np.sin(2 * np.pi * 440 * np.arange(22050) / 22050)).astype(np.int16)
    for ext, subtype in (("wav", "PCM_16"), ("flac", "PCM_16"), ("ogg", "VORBIS"), ("mp3", "MPEG_LAYER_III")):
        path = tmp_path / f"tone.{ext}"
        sf.write(path, np.stack([tone, tone], axis=1), 22050, subtype=subtype)
        good.append(path)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF1234WAVEfmt " + bytes(64))
    items = [good[0], tmp_path / "missing.wav", np.zeros(0, np.float32), good[1], corrupt,
             np.full(100, np.nan, np.float32), good[2], torch.from_numpy(noise(1)[0]), good[3], good[0].read_bytes()]
    results = onnx_pipeline.classify(items, sample_rate=SAMPLE_RATE)
    assert len(results) == len(items) and all(isinstance(r, Classification) for r in results)
    failed = {i for i, r in enumerate(results) if r.error}
    assert failed == {1, 2, 4, 5}
    assert "does not exist" in results[1].error and "empty" in results[2].error
    assert "cannot read audio file" in results[4].error and "NaN" in results[5].error
    assert results[1].source == str(tmp_path / "missing.wav") and results[2].source == "item 2"
    for i in set(range(len(items))) - failed:
        r = results[i]
        assert r.ok and r.windows >= 1 and r.label in LABELS
        np.testing.assert_allclose(r.probabilities.sum(), 1.0, atol=1e-5)
    # the good items get what they get alone: a bad neighbour changes nothing
    alone = onnx_pipeline.classify([good[1]])[0]
    np.testing.assert_allclose(results[3].probabilities, alone.probabilities, atol=1e-6)
    # WAV and FLAC hold the same PCM_16 samples: same result; the raw bytes equal the file
    np.testing.assert_allclose(results[0].probabilities, results[3].probabilities, atol=1e-6)
    np.testing.assert_allclose(results[9].probabilities, results[0].probabilities, atol=1e-6)
    json.dumps([r.to_dict() for r in results])


def test_channel_selection(artifacts, tmp_path):
    rng = np.random.default_rng(5)
    stereo = (rng.standard_normal((2, CLIP)) * 0.1).astype(np.float32)
    with Pipeline.load(artifacts["pipeline"], channels=1) as right, Pipeline.load(artifacts["pipeline"]) as mix:
        np.testing.assert_array_equal(right.prepare(stereo)[0], stereo[1])
        np.testing.assert_allclose(mix.prepare(stereo)[0], stereo.mean(axis=0), atol=1e-7)
        (bad,) = right.classify([stereo[:1]])
        assert "channel 1 was asked for but the audio has 1 channel" in bad.error


def test_int_pcm_only_when_allowed(artifacts):
    pcm = (np.random.default_rng(0).standard_normal(CLIP) * 3000).astype(np.int16)
    with Pipeline.load(artifacts["pipeline"]) as strict, Pipeline.load(artifacts["pipeline"], allow_int=True) as lax:
        assert "allow_int" in strict.classify(pcm)[0].error
        np.testing.assert_allclose(lax.prepare(pcm)[0], pcm / 32768.0, atol=1e-7)


def test_options_are_checked(artifacts):
    for kwargs, message in (({"max_batch_size": 0}, "max_batch_size"), ({"hop": CLIP + 1}, "hop"),
                            ({"channels": "left"}, "channels")):
        with pytest.raises(ConfigError, match=message):
            Pipeline.load(artifacts["pipeline"], **kwargs)
    with Pipeline.load(artifacts["pipeline"]) as p:
        with pytest.raises(ConfigError, match="top_k"):
            p.classify([np.zeros(10, np.float32)], top_k=-1)


def test_closed_pipeline_refuses(artifacts, noise):
    p = Pipeline.load(artifacts["pipeline"])
    p.close()
    with pytest.raises(Exception, match="closed"):
        p.predict(noise(1))


# ----- backends by name --------------------------------------------------------------------------
def test_explicit_backends(artifacts, modules):
    with pytest.raises(BackendUnavailable, match="'torch-cpu' cannot run this model: runs torch modules"):
        Pipeline.load(artifacts["pipeline"], backend="torch-cpu")
    with pytest.raises(BackendUnavailable, match="'tensorrt' cannot run this model: runs .engine files"):
        Pipeline.load(artifacts["pipeline"], backend="tensorrt")
    with pytest.raises(ConfigError, match="backend must be"):
        Pipeline.load(artifacts["pipeline"], backend="gpu")
    frontend, classifier = modules
    with Pipeline.from_torch(frontend, classifier, labels=LABELS, clip_samples=CLIP, device="auto") as p:
        assert p.backend == ("torch-cuda" if torch.cuda.is_available() else "torch-cpu")


@pytest.mark.skipif(backend_status("onnxruntime-cuda").usable, reason="the CUDA provider runs here")
def test_unusable_backend_by_name_says_why(artifacts):
    with pytest.raises(BackendUnavailable, match="'onnxruntime-cuda' is not usable here: .*CUDAExecutionProvider"):
        Pipeline.load(artifacts["pipeline"], backend="onnxruntime-cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_torch_cuda_by_name_says_why(modules):
    frontend, classifier = modules
    with pytest.raises(BackendUnavailable, match="'torch-cuda' is not usable here"):
        Pipeline.from_torch(frontend, classifier, labels=LABELS, clip_samples=CLIP, device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not backend_status("onnxruntime-cuda").usable, reason=backend_status("onnxruntime-cuda").reason)
def test_onnxruntime_cuda_pipeline_matches_cpu(artifacts, onnx_pipeline, noise):
    x = noise(6)
    with Pipeline.load(artifacts["pipeline"], backend="onnxruntime-cuda") as gpu:
        np.testing.assert_allclose(gpu.predict(x), onnx_pipeline.predict(x), atol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
def test_torch_cuda_pipeline_matches_cpu(modules, torch_pipeline, noise):
    frontend, classifier = modules
    x = noise(6)
    with Pipeline.from_torch(frontend, classifier, labels=LABELS, clip_samples=CLIP, device="cuda") as gpu:
        np.testing.assert_allclose(gpu.predict(x), torch_pipeline.predict(x), atol=1e-4)


# ----- model files that are not what they say -------------------------------------------------
@pytest.mark.parametrize(
    "values, message",
    [
        ({"audiofront.clip_samples": None}, "lacks \\['audiofront.clip_samples'\\]"),
        ({"audiofront.labels": None, "audiofront.output": None}, "lacks \\['audiofront.labels', 'audiofront.output'\\]"),
        ({"audiofront.kind": "frontend"}, "kind='frontend'.*prepend a classifier"),
        ({"audiofront.labels": json.dumps(LABELS[:4])}, "5 classes but audiofront.labels names 4"),
        ({"audiofront.labels": "do,re"}, "does not parse"),
        ({"audiofront.labels": json.dumps(["a", "a", "b", "c", "d"])}, "duplicates"),
        ({"audiofront.output": "scores"}, "output='scores'"),
        ({"audiofront.output": "probabilities"}, "do not sum to 1.*logits"),
        ({"audiofront.sample_rate": "0"}, "sample_rate=0"),
        ({"audiofront.clip_samples": "many"}, "does not parse"),
        ({"audiofront.input_layout": "batch,channels,time"}, "needs rank 3"),
        ({"audiofront.clip_samples": "8000"}, "check run"),  # 32 frames: too few for the convnet
    ],
)
def test_metadata_that_lies_is_a_model_file_error(artifacts, tmp_path, values, message):
    path = rewrite_metadata(artifacts["pipeline"], tmp_path / "lying.onnx", values)
    with pytest.raises(ModelFileError, match=message):
        Pipeline.load(path)


def test_declared_input_length_must_equal_clip_samples(artifacts, tmp_path):
    from audiofront.export import load_onnx
    from audiofront.export.artifacts import save_onnx

    model = load_onnx(artifacts["pipeline"])
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = CLIP * 2
    save_onnx(model, tmp_path / "fixed.onnx")
    with pytest.raises(ModelFileError, match=f"takes {CLIP * 2} samples but audiofront.clip_samples={CLIP}"):
        Pipeline.load(tmp_path / "fixed.onnx")


def test_a_fixed_batch_model_is_fed_in_padded_chunks(artifacts, onnx_pipeline, tmp_path, noise):
    from audiofront.export import load_onnx
    from audiofront.export.artifacts import save_onnx

    model = load_onnx(artifacts["pipeline"])
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 4
    save_onnx(model, tmp_path / "batch4.onnx")
    x = noise(6)
    with Pipeline.load(tmp_path / "batch4.onnx", max_batch_size=32) as p:
        np.testing.assert_allclose(p.predict(x), onnx_pipeline.predict(x), **PROB_TOL)
        np.testing.assert_allclose(p.predict(x[:1]), onnx_pipeline.predict(x[:1]), **PROB_TOL)


def test_unreadable_model_files(tmp_path, artifacts):
    with pytest.raises(ModelFileError, match="does not exist"):
        Pipeline.load(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01 not a protobuf at all" * 40)
    with pytest.raises(ModelFileError):
        Pipeline.load(junk)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(artifacts["pipeline"].read_bytes()[:-3000])
    with pytest.raises(ModelFileError):
        Pipeline.load(truncated)
    with pytest.raises(ModelFileError, match="lacks"):  # a front-end alone, no pipeline keys
        Pipeline.load(artifacts["classifier"])


def test_engines_need_their_sidecar_and_tensorrt(tmp_path, artifacts):
    from audiofront.export import read_metadata

    engine = tmp_path / "pipeline.engine"
    engine.write_bytes(b"not really an engine")
    with pytest.raises(ModelFileError, match="no sidecar"):
        Pipeline.load(engine)
    sidecar = tmp_path / "pipeline.engine.json"
    sidecar.write_text("{not json")
    with pytest.raises(ModelFileError, match="not readable JSON"):
        Pipeline.load(engine)
    meta = read_metadata(artifacts["pipeline"])
    sidecar.write_text(json.dumps({k: v for k, v in meta.items() if k != "audiofront.labels"}))
    with pytest.raises(ModelFileError, match="lacks \\['audiofront.labels'\\]"):
        Pipeline.load(engine)
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(BackendUnavailable, match="onnxruntime-cpu' cannot run this model: a TensorRT engine"):
        Pipeline.load(engine, backend="onnxruntime-cpu")
    if not backend_status("tensorrt").usable:
        with pytest.raises(BackendUnavailable, match="tensorrt"):
            Pipeline.load(engine)


def test_from_torch_checks_its_arguments(modules):
    frontend, classifier = modules
    cases = [
        (dict(labels=LABELS[:3]), "gives shape \\(1, 5\\).*3 labels"),
        (dict(labels="dore"), "labels"),
        (dict(labels=[]), "labels"),
        (dict(clip_samples=0), "clip_samples"),
        (dict(output="scores"), "output"),
        (dict(output="probabilities"), "do not sum to 1"),
        (dict(device="tpu"), "device"),
        (dict(sample_rate=-1), "sample_rate=-1 Hz is not supported"),
        (dict(sample_rate=44100), "disagrees with the front-end's own sample_rate=16000"),
        (dict(layout="frames,bins"), "layout"),
    ]
    for overrides, message in cases:
        kwargs = dict(labels=LABELS, clip_samples=CLIP) | overrides
        with pytest.raises(ConfigError, match=message):
            Pipeline.from_torch(frontend, classifier, **kwargs)


def test_from_torch_single_module_and_softmax_output(noise):
    from audiofront.runtime import FrontEndClassifier

    frontend, classifier = make_modules()
    # one module that already maps audio to probabilities
    full = torch.nn.Sequential(FrontEndClassifier(frontend, classifier), torch.nn.Softmax(dim=-1))
    x = noise(2)
    with Pipeline.from_torch(full, labels=LABELS, sample_rate=SAMPLE_RATE, clip_samples=CLIP, output="probabilities") as p, \
            Pipeline.from_torch(frontend, classifier, labels=LABELS, clip_samples=CLIP) as q:
        np.testing.assert_allclose(p.predict(x), q.predict(x), atol=1e-6)


def test_auto_moves_on_when_a_probed_backend_fails_to_start(artifacts, monkeypatch):
    """A probe can pass while the backend still fails on the model (GPU out of memory, a library missing);
    auto then takes the next backend and says why. Simulated here: ONNX Runtime CUDA claims to be usable."""
    from audiofront.runtime import backends

    if backend_status("onnxruntime-cuda").usable:
        pytest.skip("the CUDA provider really runs here")
    simulate_probe(monkeypatch, "onnxruntime-cuda", lambda: (True, "simulated: claims CUDA"))
    backends.available_backends(refresh=True)
    try:
        with Pipeline.load(artifacts["pipeline"]) as p:
            assert p.backend == "onnxruntime-cpu"
            assert "onnxruntime-cuda: failed to start: CUDAExecutionProvider" in p.backend_reason
        with pytest.raises(BackendUnavailable, match="CUDAExecutionProvider"):
            Pipeline.load(artifacts["pipeline"], backend="onnxruntime-cuda")
    finally:
        monkeypatch.undo()
        backends.available_backends(refresh=True)


@pytest.mark.tensorrt
@pytest.mark.skipif(not backend_status("tensorrt").usable, reason=backend_status("tensorrt").reason)
def test_tensorrt_pipeline_matches_onnxruntime(artifacts, onnx_pipeline, tmp_path, noise):
    from audiofront.export.engine import build_engine

    engine = build_engine(artifacts["pipeline"], tmp_path / "pipeline.engine",
                          shapes={"batch": (1, 4, 8), "time": (CLIP, CLIP, CLIP)})
    x = noise(11)  # more than the profile's largest batch: predict must chunk
    with Pipeline.load(engine) as p:
        assert p.backend == "tensorrt" and p.runner.max_batch_size == 8
        np.testing.assert_allclose(p.predict(x), onnx_pipeline.predict(x), atol=1e-3)
