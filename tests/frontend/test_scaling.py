"""AmplitudeToDB, Normalize and FrozenNormalize against librosa and numpy float64."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from audiofront.frontend import AmplitudeToDB, FrozenNormalize, Normalize
from tests.frontend.references import TOLERANCE, rel_l2


def _draw_db_configs(count: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {
            "stype": ("power", "magnitude")[i % 2],
            "top_db": (None, float(rng.uniform(10, 120)))[(i // 2) % 2],
            "amin": float(10.0 ** rng.uniform(-12, -4)),
            "ref_value": float(10.0 ** rng.uniform(-2, 2)),
            "seed": int(rng.integers(0, 2**31)),
        }
        for i in range(count)
    ]


DB_CONFIGS = _draw_db_configs(12, seed=11)


def _spectra(seed: int, shape=(3, 2, 40, 30)) -> np.ndarray:
    """Positive spectra over a wide dynamic range, with exact zeros (they hit ``amin``)."""
    rng = np.random.default_rng(seed)
    x = 10.0 ** rng.uniform(-14, 3, size=shape)
    x[rng.uniform(size=shape) < 0.02] = 0.0
    return x.astype(np.float32).astype(np.float64)


@pytest.mark.parametrize("c", DB_CONFIGS, ids=lambda c: f"{c['stype']}-top_db={c['top_db']}-amin={c['amin']:.2g}")
def test_amplitude_to_db_matches_librosa_per_item(c):
    x = _spectra(c["seed"])
    to_db = AmplitudeToDB(c["stype"], top_db=c["top_db"], amin=c["amin"], ref_value=c["ref_value"])
    out = to_db(torch.from_numpy(x).float()).double().numpy()
    librosa_db = librosa.power_to_db if c["stype"] == "power" else librosa.amplitude_to_db
    for index in np.ndindex(x.shape[:-2]):
        ref = librosa_db(x[index], ref=c["ref_value"], amin=c["amin"], top_db=c["top_db"])
        assert rel_l2(out[index], ref) < TOLERANCE, index


def test_top_db_is_per_example_and_channel():
    rng = np.random.default_rng(0)
    quiet = torch.from_numpy(10.0 ** rng.uniform(-8, -2, size=(2, 30, 20))).float()
    loud = quiet * 1e6
    to_db = AmplitudeToDB("power", top_db=40.0)
    alone = to_db(quiet)
    batch = to_db(torch.stack([quiet, loud]))
    torch.testing.assert_close(batch[0], alone, rtol=1e-6, atol=1e-4)
    # Each channel clips below its own peak.
    for ch in range(2):
        assert float(alone[ch].max() - alone[ch].min()) == pytest.approx(40.0, abs=1e-3)
        torch.testing.assert_close(alone[ch], to_db(quiet[ch]), rtol=0, atol=0)


NORMALIZE_AXES = {"frequency": (-1,), "time": (-2,), "channel": (-2, -1), "example": (-3, -2, -1)}


@pytest.mark.parametrize("mode", list(NORMALIZE_AXES))
@pytest.mark.parametrize("seed", range(3))
def test_normalize_matches_numpy(mode, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(2, 12, size=4))
    x = (rng.standard_normal(shape) * rng.uniform(0.1, 10) + rng.uniform(-5, 5)).astype(np.float32).astype(np.float64)
    axes = NORMALIZE_AXES[mode]
    eps = float(10.0 ** rng.uniform(-8, -3))
    ref = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    out = Normalize(mode, eps=eps)(torch.from_numpy(x).float())
    assert rel_l2(out, ref) < TOLERANCE


def test_normalize_keeps_silence_finite():
    out = Normalize("channel")(torch.zeros(2, 8, 5))
    assert torch.equal(out, torch.zeros(2, 8, 5))


def _dataset(seed: int, n_freq: int = 16) -> list[torch.Tensor]:
    rng = np.random.default_rng(seed)
    bins_mean, bins_std = rng.uniform(-20, 20, size=(n_freq, 1)), rng.uniform(0.5, 8, size=(n_freq, 1))
    return [torch.from_numpy(rng.standard_normal((int(rng.integers(1, 3)), n_freq, int(rng.integers(5, 40))))
                             * bins_std + bins_mean).float() for _ in range(6)]


@pytest.mark.parametrize("seed", range(3))
def test_frozen_normalize_fit_matches_numpy_statistics(seed):
    feats = _dataset(seed)
    frames = np.concatenate([f.double().numpy().swapaxes(-1, -2).reshape(-1, f.shape[-2]) for f in feats])
    mean, std = frames.mean(axis=0), frames.std(axis=0)
    norm = FrozenNormalize.fit(iter(feats), per="frequency")
    assert rel_l2(norm.mean, mean) < 1e-6
    assert rel_l2(1.0 / norm.scale.double(), std) < 1e-6
    x = feats[0].double().numpy()
    assert rel_l2(norm(feats[0]), (x - mean[:, None]) / std[:, None]) < TOLERANCE
    # The fitted module normalises the dataset to zero mean, unit variance per bin.
    out = np.concatenate([norm(f).double().numpy().swapaxes(-1, -2).reshape(-1, f.shape[-2]) for f in feats])
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=0), 1.0, rtol=1e-5)


def test_frozen_normalize_global():
    feats = _dataset(9)
    values = np.concatenate([f.double().numpy().ravel() for f in feats])
    norm = FrozenNormalize.fit(feats, per="global")
    assert norm.mean.shape == () and norm.scale.shape == ()
    assert float(norm.mean) == pytest.approx(values.mean(), rel=1e-6)
    assert 1.0 / float(norm.scale) == pytest.approx(values.std(), rel=1e-6)
    x = feats[1].double().numpy()
    assert rel_l2(norm(feats[1]), (x - values.mean()) / values.std()) < TOLERANCE
    # A single tensor is a dataset of one.
    single = FrozenNormalize.fit(feats[2], per="global")
    assert float(single.mean) == pytest.approx(feats[2].double().mean().item(), rel=1e-6)


def test_frozen_normalize_statistics_are_buffers():
    norm = FrozenNormalize(torch.zeros(4), torch.ones(4))
    assert list(norm.parameters()) == []
    assert {name for name, _ in norm.named_buffers()} == {"mean", "scale"}
    assert norm.mean.dtype == torch.float32
