"""Reference presets equal the real extractors, in torch and exported on onnxruntime.

References: transformers' feature extractors (Whisper, AST, SeamlessM4T, Speech2Text, Wav2Vec2,
CLAP), openai-whisper's ``log_mel_spectrogram`` (its audio.py and mel_filters.npz, loaded without
the rest of the package), torchlibrosa's ``Spectrogram`` + ``LogmelFilterBank`` as PANNs Cnn14
builds them. kaldi-native-fbank is in test_reference_presets_kaldi.py. Inputs: random, tonal and
silent-tail items at lengths below, at and above each model's fixed length; the bar is the
issue's (log domain, bins within 80 dB of the item's peak: relative L2 <= 1e-4, max abs <= 1e-3).
"""

from __future__ import annotations

import functools
import importlib.metadata
import pathlib
import sys
import types
import warnings

import numpy as np
import pytest
import torch

from audiofront.export import check_graph, check_tensorrt, read_metadata
from audiofront.frontend import preset
from audiofront.runtime import frame_windows
from tests.frontend.reference_signals import DB_PER_NEPER, KINDS, assert_log_close, batch

transformers = pytest.importorskip("transformers", reason="transformers (test extra) is the reference")
torchlibrosa = pytest.importorskip("torchlibrosa", reason="torchlibrosa (test extra) is PANNs' front-end")
ort = pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _whisper_audio():
    """openai-whisper's audio.py without whisper/__init__ (which pulls tiktoken and numba)."""
    if "whisper.audio" in sys.modules:
        return sys.modules["whisper.audio"]
    try:
        root = pathlib.Path(str(importlib.metadata.distribution("openai-whisper").locate_file("whisper")))
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("openai-whisper is not installed (pip install --no-deps openai-whisper)")
    package = types.ModuleType("whisper")
    package.__path__ = [str(root)]
    sys.modules["whisper"] = package
    import whisper.audio

    return whisper.audio


# --- the references: item (samples,) -> (model input, dB of the same bins for the 80 dB mask) -------

def _whisper(n_mels: int, x: np.ndarray):
    audio = _whisper_audio()
    ref = audio.log_mel_spectrogram(audio.pad_or_trim(torch.from_numpy(x)), n_mels=n_mels).numpy()
    return ref, 10.0 * (4.0 * ref - 4.0)  # (log10 + 4) / 4 back to dB


@functools.lru_cache(maxsize=None)
def _extractor(name: str):
    t = transformers
    return {
        "ast": lambda: t.ASTFeatureExtractor(),
        "seamless-m4t": lambda: t.SeamlessM4TFeatureExtractor(),
        "speech2text": lambda: t.Speech2TextFeatureExtractor(),
        "wav2vec2": lambda: t.Wav2Vec2FeatureExtractor(do_normalize=True),
        "clap": lambda: t.ClapFeatureExtractor(truncation="rand_trunc", padding="repeatpad"),
        "whisper-80": lambda: t.WhisperFeatureExtractor(feature_size=80),
        "whisper-128": lambda: t.WhisperFeatureExtractor(feature_size=128),
    }[name]()


def _hf(name: str, x: np.ndarray, rate: int) -> np.ndarray:
    fe = _extractor(name)
    return np.asarray(fe(x, sampling_rate=rate, return_tensors="np")[fe.model_input_names[0]][0], dtype=np.float64)


def _kaldi_db(name: str, x: np.ndarray) -> np.ndarray:
    # The extractor's own fbank before normalisation (natural log of power) gives the mask.
    return DB_PER_NEPER * np.asarray(_extractor(name)._extract_fbank_features(x), dtype=np.float64)


def _ast(x):
    ref = _hf("ast", x, 16000)
    fe = _extractor("ast")
    return ref, DB_PER_NEPER * (ref * 2.0 * fe.std + fe.mean)


def _seamless(x):
    ref = _hf("seamless-m4t", x, 16000)
    db = _kaldi_db("seamless-m4t", x)
    if db.shape[0] % 2:
        db = np.concatenate([db, np.full_like(db[:1], db.max())])  # the zero frame padded to a multiple of 2
    return ref, db.reshape(ref.shape)


def _speech2text(x):
    return _hf("speech2text", x, 16000), _kaldi_db("speech2text", x)


def _wav2vec2(x):
    ref = _hf("wav2vec2", x, 16000)
    return ref, np.zeros_like(ref)  # a waveform: every sample counts


@functools.lru_cache(maxsize=None)
def _torchlibrosa_frontend():
    spec = torchlibrosa.stft.Spectrogram(n_fft=1024, hop_length=320, win_length=1024, window="hann", center=True,
                                         pad_mode="reflect", freeze_parameters=True)
    logmel = torchlibrosa.stft.LogmelFilterBank(sr=32000, n_fft=1024, n_mels=64, fmin=50, fmax=14000, ref=1.0,
                                                amin=1e-10, top_db=None, freeze_parameters=True)
    return spec, logmel


def _panns(x):
    spec, logmel = _torchlibrosa_frontend()
    with torch.no_grad():
        ref = logmel(spec(torch.from_numpy(x)[None]))[0].double().numpy()
    return ref, ref


def _clap(x):
    ref = _hf("clap", x, 48000)
    return ref, ref


# Errors of dB-valued inputs (PANNs, CLAP) are measured in natural-log units (dB / 4.343): 70-80 dB
# below the peak, float32 arithmetic alone puts a dB value 2e-3 off (torchlibrosa's own float32
# STFT is that far from a float64 one). Every other preset is measured in its model-input units.
UNITS = {"panns-cnn14": 1.0 / DB_PER_NEPER, "clap": 1.0 / DB_PER_NEPER}

REFERENCES = {
    # name: (sample rate, lengths, reference)
    "whisper-80": (16000, (401, 16001, 480000, 481601), functools.partial(_whisper, 80)),
    "whisper-128": (16000, (401, 480000), functools.partial(_whisper, 128)),
    "ast": (16000, (400, 401, 16123, 164080, 170001), _ast),
    "seamless-m4t": (16000, (1840, 2001, 4807, 16123), _seamless),
    "speech2text": (16000, (1840, 2001, 4807, 16123), _speech2text),
    "wav2vec2": (16000, (2, 401, 16123), _wav2vec2),
    "panns-cnn14": (32000, (513, 1024, 32007, 96011), _panns),
    "clap": (48000, (2401, 4803, 144011, 480000), _clap),
}
CASES = [(name, length) for name, (_, lengths, _) in REFERENCES.items() for length in lengths]


@functools.lru_cache(maxsize=None)
def _inputs_and_references(name: str, length: int):
    rate, _, reference = REFERENCES[name]
    x = batch(length, rate)
    return x, [reference(item) for item in x]


@functools.lru_cache(maxsize=None)
def _module(name: str):
    return preset(name).eval()


@pytest.fixture(scope="module")
def exported(exported_preset):
    """``exported(name) -> (path, session)``: the session-wide export of the preset, opened once here."""
    cache = {}

    def get(name: str):
        if name not in cache:
            path = exported_preset(name)[1]
            cache[name] = (path, ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]))
        return cache[name]

    return get


@pytest.mark.parametrize("name, length", CASES, ids=[f"{n}-{t}" for n, t in CASES])
def test_preset_equals_reference_in_torch(name, length):
    x, refs = _inputs_and_references(name, length)
    with torch.no_grad():
        out = _module(name)(torch.from_numpy(x)).double().numpy()
    for kind, item, (ref, db) in zip(KINDS, out, refs):
        assert_log_close(item, ref, db, f"{name} torch, {kind}, {length} samples", unit=UNITS.get(name, 1.0))


@pytest.mark.parametrize("name", list(REFERENCES))
def test_exported_preset_equals_reference_on_onnxruntime(name, exported):
    path, session = exported(name)
    assert check_tensorrt(str(path)).ok, check_tensorrt(str(path))
    hygiene = check_graph(path)
    assert hygiene.ok, hygiene
    meta = read_metadata(path)
    assert meta["audiofront.preset"] == name and meta["audiofront.reference"]
    assert meta["audiofront.reference_version"]
    for length in REFERENCES[name][1]:
        x, refs = _inputs_and_references(name, length)
        out = session.run(None, {"audio": x})[0]
        for kind, item, (ref, db) in zip(KINDS, out, refs):
            assert_log_close(item, ref, db, f"{name} onnxruntime, {kind}, {length} samples", unit=UNITS.get(name, 1.0))


@pytest.mark.parametrize("name, length", [("whisper-80", 16001), ("whisper-80", 481601), ("whisper-128", 401)])
def test_whisper_preset_equals_transformers_whisper_extractor(name, length):
    x, _ = _inputs_and_references(name, length)
    with torch.no_grad():
        out = _module(name)(torch.from_numpy(x)).double().numpy()
    for kind, item, raw in zip(KINDS, out, x):
        ref = _hf(name, raw, 16000)
        assert_log_close(item, ref, 10.0 * (4.0 * ref - 4.0), f"{name} vs transformers, {kind}, {length} samples")


def test_clap_longer_than_max_length_takes_the_first_ten_seconds():
    x = batch(480000 + 4801, 48000)
    fe = _module("clap")
    with torch.no_grad():
        assert torch.equal(fe(torch.from_numpy(x)), fe(torch.from_numpy(x[:, :480000].copy())))


def test_metadata_describes_the_model_input(exported):
    path, _ = exported("ast")
    meta = read_metadata(path)
    assert meta["audiofront.output_layout"] == "batch,frames,bins"
    assert (meta["audiofront.n_bins"], meta["audiofront.fixed_frames"], meta["audiofront.sample_rate"]) == ("128", "1024",
                                                                                                             "16000")
    assert meta["audiofront.frames"] == "1 + (time - 400) // 160"


# --- prepend onto real architectures (small random-init configs: no weights can be downloaded) ---------

def _export_classifier(model: torch.nn.Module, example: torch.Tensor, path) -> None:
    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, features):
            return self.inner(features).logits

    torch.onnx.export(Logits(model).eval(), (example,), str(path), dynamo=True, input_names=["features"],
                      output_names=["logits"], dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
                      opset_version=18, verbose=False)


@pytest.mark.parametrize("arch", ["ast", "whisper"])
def test_prepended_classifier_equals_extractor_plus_torch_model(arch, tmp_path, capsys):
    from audiofront.cli import main
    from audiofront.runtime import Pipeline

    torch.manual_seed(0)
    if arch == "ast":
        config = transformers.ASTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                        intermediate_size=64, num_labels=4, patch_size=16, frequency_stride=16,
                                        time_stride=16, max_length=1024, num_mel_bins=128)
        model = transformers.ASTForAudioClassification(config).eval()
        name, example, key, clip = "ast", torch.randn(1, 1024, 128), "input_values", 164080
        lengths = (16123, clip, 170001)
    else:
        config = transformers.WhisperConfig(d_model=32, encoder_layers=1, encoder_attention_heads=2,
                                            encoder_ffn_dim=64, decoder_layers=1, decoder_attention_heads=2,
                                            decoder_ffn_dim=64, num_mel_bins=80, num_labels=3,
                                            classifier_proj_size=16)
        model = transformers.WhisperForAudioClassification(config).eval()
        name, example, key, clip = "whisper-80", torch.randn(1, 80, 3000), "input_features", 480000
        lengths = (16123, clip)
    classifier = tmp_path / f"{arch}.onnx"
    _export_classifier(model, example, classifier)
    pipeline_path = tmp_path / f"{arch}-pipeline.onnx"
    assert main(["export", "--preset", name, "--classifier", str(classifier), "-o", str(pipeline_path)]) == 0
    assert "TensorRT" in capsys.readouterr().out
    # The front-end's fixed length travels into the pipeline's metadata: the Pipeline reads it there.
    fixed = {"ast": ("fixed_frames", "1024"), "whisper": ("fixed_samples", "480000")}[arch]
    assert read_metadata(pipeline_path)[f"audiofront.{fixed[0]}"] == fixed[1]
    session = ort.InferenceSession(str(pipeline_path), providers=["CPUExecutionProvider"])
    extractor = _extractor(name)
    for length in lengths:
        x = batch(length, 16000, seed=5)[:2]
        features = extractor(list(x), sampling_rate=16000, return_tensors="pt")[key]
        with torch.no_grad():
            want = model(features).logits.numpy()
        got = session.run(None, {"audio": x})[0]
        assert np.abs(got - want).max() < 1e-3 * max(1.0, np.abs(want).max()), (arch, length)
    # Through the Pipeline: clips shorter than, equal to and longer than the model's fixed length, all in
    # one classify call (mixed lengths: each must still get the answer it gets alone), each against the
    # extractor + torch model on that clip alone. AST: 300 samples is under the fbank's 400-sample
    # frame (zero-padded to 400, the documented behaviour; the extractor gives no frame for it) and
    # 164000 samples give 1023 frames, so the extractor pads one fbank frame.
    pipe_lengths = {"ast": (300, 16123, 164000, clip, 170001), "whisper": (16123, clip, 481601)}[arch]
    clips = [batch(n, 16000, seed=6 + k)[k % 2] for k, n in enumerate(pipe_lengths)]

    def reference(x):
        x = np.pad(x, (0, max(0, 400 - x.size))) if arch == "ast" else x
        with torch.no_grad():
            logits = model(extractor(x, sampling_rate=16000, return_tensors="pt")[key]).logits
        return torch.softmax(logits.double(), -1)[0].numpy()

    with Pipeline.load(pipeline_path, backend="onnxruntime-cpu") as pipe:
        assert pipe.clip_samples == clip and pipe.long_clips == "truncate" and pipe.lengths.fixes_own_length
        results = pipe.classify(clips, top_k=2)
        alone = pipe.classify(clips[-1])[0]
    worst = 0.0
    for x, got in zip(clips, results):
        assert got.ok and got.windows == 1 and got.truncated == (x.size > clip), got
        worst = max(worst, float(np.abs(got.probabilities - reference(x)).max()))
    assert worst < 1e-4, (arch, worst)
    np.testing.assert_allclose(alone.probabilities, results[-1].probabilities, rtol=0, atol=1e-6)
    # The old way (zeros appended to the audio) is not the extractor's for AST's frame padding.
    short = clips[1]
    padded = session.run(None, {"audio": np.pad(short, (0, clip - short.size))[None]})[0]
    zero_padded = torch.softmax(torch.from_numpy(padded).double(), -1)[0].numpy()
    if arch == "ast":
        assert np.abs(zero_padded - reference(short)).max() > 100 * worst
    # long_clips="windows": the mean over windows of exactly the model's length, each as the extractor sees it.
    with Pipeline.load(pipeline_path, backend="onnxruntime-cpu", long_clips="windows") as pipe:
        averaged = pipe.classify([clips[-1]])[0]
    want = np.mean([reference(w) for w in frame_windows(clips[-1], clip)], axis=0)
    assert averaged.windows == 2 and not averaged.truncated
    assert np.abs(averaged.probabilities - want).max() < 1e-4


def test_clap_pipeline_repeat_pads_short_clips_like_the_extractor(exported, tmp_path):
    # A small head over the CLAP preset's (batch, 1, frames, bins) features, joined with onnx.compose
    # (prepend takes (batch, bins, frames)-like outputs only): Pipeline.classify of a short clip must
    # equal ClapFeatureExtractor (repeat-pad) + the same head in torch, not the zero-padded answer.
    import onnx

    from audiofront.export import write_metadata
    from audiofront.runtime import Pipeline

    class Head(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(64, 3)

        def forward(self, features):  # (batch, 1, 1001, 64) dB
            return self.fc(features.mean(dim=2).flatten(1) / 20.0)

    torch.manual_seed(0)
    head = Head().eval()
    head_path = tmp_path / "head.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(head, (torch.randn(2, 1, 1001, 64),), str(head_path), dynamo=False, input_names=["features"],
                          output_names=["logits"], opset_version=18,
                          dynamic_axes={"features": {0: "batch"}, "logits": {0: "batch"}})
    frontend = onnx.load(str(exported("clap")[0]))
    head_model = onnx.compose.add_prefix(onnx.load(str(head_path)), "head/")
    head_model.ir_version = frontend.ir_version
    merged = onnx.compose.merge_models(frontend, head_model, io_map=[(frontend.graph.output[0].name, "head/features")])
    write_metadata(merged, {**read_metadata(frontend), "kind": "pipeline", "labels": ["x", "y", "z"],
                            "clip_samples": 480000, "output": "logits", "output_layout": "batch,classes"}, replace=True)
    path = tmp_path / "clap-pipeline.onnx"
    onnx.save(merged, str(path))
    extractor = _extractor("clap")
    clips = [batch(n, 48000, seed=3)[1] for n in (1, 2401, 144011)]
    with Pipeline.load(path, backend="onnxruntime-cpu") as pipe:
        assert pipe.lengths.fixes_own_length and pipe.lengths.min_samples == 1
        results = pipe.classify(clips)
    for x, got in zip(clips, results):
        with torch.no_grad():
            want = torch.softmax(head(extractor(x, sampling_rate=48000, return_tensors="pt")["input_features"]), -1)[0]
            zeros = extractor(np.pad(x, (0, 480000 - x.size)), sampling_rate=48000, return_tensors="pt")["input_features"]
            zero_padded = torch.softmax(head(zeros), -1)[0]
        diff = np.abs(got.probabilities - want.numpy()).max()
        assert diff < 1e-5 and np.abs(zero_padded.numpy() - want.numpy()).max() > 100 * max(diff, 1e-6), (x.size, diff)
