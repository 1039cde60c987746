"""Utterance-level building blocks against numpy float64 formulas; bad arguments; export of the blocks.

CMVN (ddof 0/1, floor or added eps), stacking with stride, pad/trim, repeat-pad, the dynamic-range
clamp and waveform normalisation, each per item (batch invariance) and with a dynamic length in ONNX.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from audiofront.errors import ConfigError
from audiofront.frontend import (
    Affine,
    DropLastFrame,
    DynamicRangeClamp,
    FrontEnd,
    KaldiFbank,
    PadTrim,
    RepeatPad,
    StackFrames,
    TimeFirst,
    UtteranceCMVN,
    ZeroMeanUnitVariance,
    preset,
)
from audiofront.export import export_onnx


def _features(batch, bins, frames, seed=0):
    rng = np.random.default_rng([seed, bins, frames])
    return rng.standard_normal((batch, bins, frames)) * rng.uniform(0.5, 3.0, (batch, bins, 1)) + 2.0


@pytest.mark.parametrize("ddof, eps, mode", [(0, 1e-10, "floor"), (1, 1e-7, "add"), (0, 1e-7, "add")])
@pytest.mark.parametrize("frames", [2, 3, 57])
def test_utterance_cmvn_is_numpy(ddof, eps, mode, frames):
    x = _features(3, 5, frames)
    var = x.var(-1, ddof=ddof, keepdims=True)
    var = np.maximum(var, eps) if mode == "floor" else var + eps
    want = (x - x.mean(-1, keepdims=True)) / np.sqrt(var)
    got = UtteranceCMVN(ddof=ddof, eps=eps, eps_mode=mode)(torch.from_numpy(x).float()).double().numpy()
    assert np.abs(got - want).max() < 1e-5
    # Each item from its own statistics: the first item alone gives the same numbers.
    alone = UtteranceCMVN(ddof=ddof, eps=eps, eps_mode=mode)(torch.from_numpy(x[:1]).float())
    assert torch.equal(alone[0], torch.from_numpy(got[0]).float())


def test_cmvn_means_or_vars_only():
    x = torch.from_numpy(_features(2, 4, 30)).float()
    assert torch.allclose(UtteranceCMVN(norm_vars=False)(x), x - x.mean(-1, keepdim=True))
    scaled = UtteranceCMVN(norm_means=False)(x)
    assert torch.allclose(scaled, x / x.std(-1, unbiased=False, keepdim=True), atol=1e-5)


@pytest.mark.parametrize("frames", [1, 2, 7, 50])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_stack_frames_is_the_reference_reshape(frames, stride):
    x = _features(2, 4, frames)
    t = np.swapaxes(x, -1, -2)  # (batch, frames, bins) as the extractors hold it
    pad = (-frames) % stride
    t = np.concatenate([t, np.zeros((2, pad, 4))], axis=1).reshape(2, (frames + pad) // stride, 4 * stride)
    got = StackFrames(stride)(torch.from_numpy(x)).numpy()
    assert np.array_equal(got, np.swapaxes(t, -1, -2))


@pytest.mark.parametrize("length, target", [(5, 9), (9, 9), (13, 9), (1, 4)])
def test_pad_trim_and_repeat_pad(length, target):
    x = torch.arange(1.0, length + 1.0).repeat(2, 1)
    padded = np.pad(x.numpy(), ((0, 0), (0, max(0, target - length))))[:, :target]
    assert np.array_equal(PadTrim(target)(x).numpy(), padded)
    assert PadTrim(target, dim=-1, value=-1.0)(x)[0, length:].eq(-1.0).all()
    reps = max(target // length, 1)
    tiled = np.tile(x.numpy(), (1, reps))[:, :target]
    want = np.pad(tiled, ((0, 0), (0, target - tiled.shape[1])))
    assert np.array_equal(RepeatPad(target)(x).numpy(), want)


def test_clamp_affine_drop_and_layout():
    x = torch.tensor([[[0.0, -3.0], [-20.0, -9.0]], [[5.0, 4.0], [0.0, 1.0]]])
    assert DynamicRangeClamp(8.0)(x).tolist() == [[[0.0, -3.0], [-8.0, -8.0]], [[5.0, 4.0], [0.0, 1.0]]]
    assert Affine(0.25, 1.0)(torch.tensor([-4.0, 4.0])).tolist() == [0.0, 2.0]
    assert DropLastFrame()(x).shape == (2, 2, 1)
    assert TimeFirst()(torch.zeros(2, 3, 5)).shape == (2, 5, 3)
    assert TimeFirst(channel=True)(torch.zeros(2, 3, 5)).shape == (2, 1, 5, 3)


def test_zero_mean_unit_variance_is_wav2vec2_formula():
    x = np.random.default_rng(0).standard_normal((3, 1001)) * 0.2 + 0.1
    want = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-7)
    assert np.abs(ZeroMeanUnitVariance()(torch.from_numpy(x).float()).numpy() - want).max() < 1e-5
    assert torch.isfinite(ZeroMeanUnitVariance()(torch.zeros(1, 16))).all()


@pytest.mark.parametrize("make, match", [
    (lambda: UtteranceCMVN(ddof=2), "ddof"),
    (lambda: UtteranceCMVN(eps_mode="max"), "eps_mode"),
    (lambda: UtteranceCMVN(eps=-1.0), "eps"),
    (lambda: StackFrames(0), "stride"),
    (lambda: PadTrim(0), "length"),
    (lambda: RepeatPad(1 << 24)(torch.zeros(4)), "2\\*\\*24"),
    (lambda: DynamicRangeClamp(-1.0), "dynamic_range"),
    (lambda: Affine(scale=float("nan")), "scale"),
    (lambda: preset("whisper-81"), "preset must be one of"),
])
def test_bad_arguments_name_themselves(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_blocks_export_with_a_dynamic_length(tmp_path):
    # Kaldi fbank -> CMVN -> stride stacking -> time first, and a fixed-length pad: lengths never traced.
    fe = FrontEnd(KaldiFbank(num_mel_bins=20), UtteranceCMVN(ddof=1, eps=1e-7, eps_mode="add"), StackFrames(3),
                  PadTrim(40), TimeFirst(), sample_rate=16000,
                  info={"layout": "frames,bins", "frames": "40", "fixed_frames": 40}).eval()
    path = export_onnx(fe, tmp_path / "blocks.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for length in (561, 1601, 23456):  # ddof=1 over a single frame is 0/0, as in SeamlessM4T
        x = torch.randn(2, length) * 0.1
        got = session.run(None, {"audio": x.numpy()})[0]
        want = fe(x).detach().numpy()
        assert got.shape == want.shape == (2, 40, 60)
        assert np.abs(got - want).max() < 1e-3
