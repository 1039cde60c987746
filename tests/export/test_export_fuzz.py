"""A seeded fuzz of export_onnx: module kinds x configurations x sample shapes x run shapes.

Every module kind is exported once per run, each with a random configuration (n_fft, hop,
win_length, window, center, pad mode, power) and one of the sample-shape edges (batch 1, many,
multichannel, the minimum length, one frame, no sample, fixed batch, fixed length), cycled by the
seed so that every edge comes up. Export checks itself on onnxruntime; this test then runs the
written file at shapes of its own (independent of that check) against torch, and against librosa
in float64 where librosa has the transform. ``AUDIOFRONT_FUZZ_SEED`` picks another subset.
"""

from __future__ import annotations

import os
import warnings

import librosa
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from audiofront.export import eval_frames, export_onnx, read_metadata
from audiofront.frontend import (
    MFCC,
    AmplitudeToDB,
    ComputeDeltas,
    Filterbank,
    FrozenNormalize,
    FrontEnd,
    InverseSpectrogram,
    Magnitude,
    MelScale,
    MelSpectrogram,
    Normalize,
    Phase,
    Spectrogram,
)

SEED = int(os.environ.get("AUDIOFRONT_FUZZ_SEED", "20261202"))
SR = 8000
WINDOWS = ("hann", "hamming", "blackman", "rectangular")
LIBROSA_WINDOW = {"hann": "hann", "hamming": "hamming", "blackman": "blackman", "rectangular": "boxcar"}
LIBROSA_PAD = {"reflect": "reflect", "constant": "constant", "replicate": "edge"}
EDGES = ("batch1", "many", "multichannel", "minimum", "one-frame", "none", "fixed-batch", "fixed-time")


def _stft_args(rng) -> dict:
    n_fft = int(rng.choice([32, 48, 64, 63]))
    hop = int(rng.choice([8, 16, n_fft // 4, 12]))
    win = int(rng.choice([n_fft, n_fft - 8])) if rng.random() < 0.7 else n_fft
    return {"n_fft": n_fft, "hop_length": hop, "win_length": win, "window": str(rng.choice(WINDOWS)),
            "center": bool(rng.random() < 0.6), "pad_mode": str(rng.choice(["reflect", "constant", "replicate"]))}


def _kinds():
    """``name -> build(rng) -> (module, librosa reference or None)``: every kind of front-end piece."""

    def spectrogram(rng):
        args = {**_stft_args(rng), "power": [1.0, 2.0, None][int(rng.integers(3))]}
        return Spectrogram(**args), ("stft", args)

    def mel(rng):
        args = {**_stft_args(rng), "power": 2.0}
        n_mels = int(rng.choice([6, 10]))
        return MelSpectrogram(sample_rate=SR, n_mels=n_mels, **args), ("mel", {**args, "n_mels": n_mels})

    def mfcc(rng):
        args = _stft_args(rng)
        return MFCC(sample_rate=SR, n_mfcc=5, melkwargs={**args, "n_mels": 10}), None

    def mel_db_deltas(rng):
        args = _stft_args(rng)
        return FrontEnd(MelSpectrogram(sample_rate=SR, n_mels=8, **args), AmplitudeToDB(top_db=80.0),
                        ComputeDeltas(), sample_rate=SR), None

    def spec_deltas(rng):
        return nn.Sequential(Spectrogram(**_stft_args(rng)), ComputeDeltas(win_length=3)), None

    def waveform_normalize(rng):
        return Normalize("frequency"), None

    def amplitude_to_db(rng):
        return AmplitudeToDB(str(rng.choice(["power", "magnitude"])), top_db=float(rng.choice([40.0, 80.0]))), None

    def normalize(rng):
        return Normalize(str(rng.choice(["frequency", "time", "channel"]))), None

    def frozen_normalize(rng):
        g = np.random.default_rng(int(rng.integers(1 << 30)))
        return FrozenNormalize(g.uniform(-1, 1, 17), g.uniform(0.5, 2, 17)), None

    def deltas(rng):
        return ComputeDeltas(win_length=int(rng.choice([3, 5, 9]))), None

    def filterbank(rng):
        if rng.random() < 0.5:
            return MelScale(n_mels=8, sample_rate=SR, n_stft=33), None
        return Filterbank.linear(sample_rate=SR, n_fft=32, n_bins=6), None

    def inverse(rng):
        args = _stft_args(rng)
        args.pop("pad_mode")
        if args["window"] == "rectangular" or args["hop_length"] > args["win_length"] // 2:
            args["window"] = "hann"  # overlap-add must cover every sample
        return InverseSpectrogram(**args), None

    def magnitude(rng):
        return Magnitude(power=float(rng.choice([1.0, 2.0]))), None

    def phase(rng):
        return nn.Sequential(Spectrogram(**{**_stft_args(rng), "power": None}), Phase()), None

    return {f.__name__: f for f in (spectrogram, mel, mfcc, mel_db_deltas, spec_deltas, waveform_normalize,
                                     amplitude_to_db, normalize, frozen_normalize, deltas, filterbank, inverse,
                                     magnitude, phase)}


KINDS = _kinds()
CASES = [(name, EDGES[(i + SEED) % len(EDGES)]) for i, name in enumerate(KINDS)]


def _sample(module: nn.Module, edge: str, rng) -> tuple[torch.Tensor | None, dict]:
    """The sample input for ``edge`` and the export keywords it goes with."""
    from audiofront.frontend.inputs import input_spec

    spec, _ = input_spec(module)
    stft = next((m for m in module.modules() if isinstance(m, Spectrogram)), None)
    one_frame = stft.n_fft + 2 * stft.pad - (2 * (stft.n_fft // 2) if stft.center else 0) if stft else spec.min_length
    length = {"minimum": spec.min_length, "one-frame": max(one_frame, spec.min_length)}.get(edge, 3 * spec.min_length + 50)
    batch = {"batch1": 1, "minimum": 1, "one-frame": 1, "many": 4}.get(edge, 2)
    channels = edge == "multichannel" and "channels" not in spec.axes
    core = [length if a == spec.length_axis else spec.sizes.get(a, 17) for a in spec.axes]
    if "channels" in spec.axes:
        core[spec.axes.index("channels")] = 2
    shape = [batch] + ([3] if channels else []) + core
    kwargs = {"dynamic_batch": edge != "fixed-batch", "dynamic_time": edge != "fixed-time"}
    if edge == "none":
        return None, kwargs
    x = torch.from_numpy(rng.standard_normal(shape)).float()
    return (x.abs() if spec.values == "nonnegative" else x * (0.1 if spec.values == "audio" else 1.0)), kwargs


def _run_shape(layout, in_dims, length_axis: int, min_length: int, run: int, rng) -> list[int]:
    """Batch 1..5, channels 1..3, the minimum length, one more, or a random longer one; fixed dims as declared."""
    shape = []
    for i, (axis, dim) in enumerate(zip(layout, in_dims)):
        if isinstance(dim, int):
            shape.append(dim)
        elif axis == "batch":
            shape.append(int(rng.integers(1, 6)))
        elif axis == "channels":
            shape.append(int(rng.integers(1, 4)))
        else:
            shape.append([min_length, min_length + 1, int(rng.integers(min_length, 3000))][run])
    return shape


def _librosa(ref, audio: np.ndarray) -> np.ndarray:
    kind, args = ref
    out = []
    for item in audio.reshape(-1, audio.shape[-1]).astype(np.float64):
        z = librosa.stft(item, n_fft=args["n_fft"], hop_length=args["hop_length"], win_length=args["win_length"],
                         window=LIBROSA_WINDOW[args["window"]], center=args["center"],
                         pad_mode=LIBROSA_PAD[args["pad_mode"]])
        if kind == "stft" and args["power"] is None:
            out.append(np.stack([z.real, z.imag], axis=-1))
            continue
        power = 2.0 if kind == "mel" else args["power"]
        s = np.abs(z) ** power
        if kind == "mel":
            fb = librosa.filters.mel(sr=SR, n_fft=args["n_fft"], n_mels=args["n_mels"], htk=True, norm=None)
            s = fb @ s
        out.append(s)
    return np.stack(out).reshape(audio.shape[:-1] + out[0].shape)


@pytest.mark.parametrize("kind, edge", CASES, ids=[f"{k}-{e}-seed{SEED}" for k, e in CASES])
def test_fuzz_export_matches_torch_and_librosa(kind, edge, tmp_path):
    rng = np.random.default_rng([SEED, list(KINDS).index(kind)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty mel filters at these small sizes
        module, ref = KINDS[kind](rng)
    module.eval()
    sample, kwargs = _sample(module, edge, rng)
    path = export_onnx(module, tmp_path / "m.onnx", sample_input=sample, sample_rate=SR, **kwargs)
    meta = read_metadata(path)
    model = onnx.load(str(path))
    in_dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    layout = meta["audiofront.input_layout"].split(",")
    assert len(in_dims) == len(layout) == (sample.ndim if sample is not None else len(layout))
    assert (in_dims[0] == "batch") == kwargs["dynamic_batch"]
    length_axis = len(layout) - 1 - layout[::-1].index("time" if "time" in layout else "frames")
    assert isinstance(in_dims[length_axis], str) == kwargs["dynamic_time"]

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    out_layout = meta["audiofront.output_layout"].split(",")
    from audiofront.frontend.inputs import input_spec

    spec = input_spec(module, len(layout))[0]
    for run in range(3):
        shape = _run_shape(layout, in_dims, length_axis, spec.min_length, run, rng)
        x = torch.from_numpy(rng.standard_normal(shape)).float()
        if spec.values == "nonnegative":
            x = x * x
        elif spec.values == "audio":
            x = x * 0.1
        got = session.run(None, {name: x.numpy()})[0]
        with torch.no_grad():
            want = module(x).numpy()
        assert got.shape == want.shape, (shape, got.shape, want.shape)
        assert len(out_layout) == got.ndim
        if "frames" in out_layout or "time" in out_layout:
            axis = out_layout.index("frames" if "frames" in out_layout else "time")
            assert eval_frames(meta["audiofront.frames"], shape[length_axis]) == got.shape[axis]
        if "bins" in out_layout:
            assert int(meta["audiofront.n_bins"]) == got.shape[out_layout.index("bins")]
        diff = np.abs(got.astype(np.float64) - want)
        if kind == "phase":
            diff = np.minimum(diff % (2 * np.pi), 2 * np.pi - diff % (2 * np.pi))
        assert diff.max() <= 1e-3 * max(1.0, float(np.abs(want).max())), (kind, edge, shape)
        if ref is not None:
            expected = _librosa(ref, x.numpy())
            rel = np.linalg.norm(got - expected) / max(np.linalg.norm(expected), 1e-12)
            assert rel < 1e-4, (kind, edge, shape, rel)


def test_every_kind_and_edge_is_covered():
    assert {k for k, _ in CASES} == set(KINDS)
    assert {e for _, e in CASES} == set(EDGES)
