"""The training loop on a few steps: files written, loadable, reproducible; it trains on the shipped front-end's numbers."""

import json

import numpy as np
import pytest
import torch

from audiofront.errors import ConfigError
from audiofront.frontend import functional
from audiofront.models.piano import DEFAULT_CONFIG, build_frontend, load_piano_model
from audiofront.models.train import batch_for_step, train


def _framed_rfft_power(frontend, x):
    """The training path the shipped weights were made with: reflect-pad, frame, window, rfft, re^2 + im^2."""
    spec = frontend[0]
    half = spec.n_fft // 2
    padded = torch.nn.functional.pad(x[:, None], (half, half), mode="reflect")[:, 0]
    window = torch.from_numpy(functional.get_window("hann", spec.n_fft)).to(x.dtype)
    z = torch.fft.rfft(padded.unfold(-1, spec.n_fft, spec.hop_length) * window, dim=-1).transpose(1, 2)
    y = torch.stack([z.real, z.imag], dim=1)
    return (y * y).sum(dim=1)


def test_training_features_equal_the_framed_rfft_path_bit_for_bit():
    frontend = build_frontend().eval()
    audio, _ = batch_for_step(0, batch=4, seed=0, config=DEFAULT_CONFIG)
    x = torch.from_numpy(audio)
    with torch.no_grad():
        old = _framed_rfft_power(frontend, x)
        assert torch.equal(frontend[0](x), old)
        ref = _framed_rfft_power(frontend, x.double())  # float64 bounds the float32 rounding
        torch.testing.assert_close(old.double(), ref, rtol=1e-3, atol=1e-5 * float(ref.max()))


def test_batches_are_deterministic_and_distinct():
    a, ta = batch_for_step(3, batch=4, seed=0, config=DEFAULT_CONFIG)
    b, tb = batch_for_step(3, batch=4, seed=0, config=DEFAULT_CONFIG)
    c, _ = batch_for_step(4, batch=4, seed=0, config=DEFAULT_CONFIG)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ta, tb)
    assert not np.array_equal(a, c)
    assert ((ta >= 0) & (ta < 88)).all()


def test_few_steps_write_a_loadable_reproducible_model(tmp_path):
    first = train(steps=2, batch=4, seed=7, out=tmp_path / "a", export=False, progress=False, threads=1)
    train(steps=2, batch=4, seed=7, out=tmp_path / "b", export=False, progress=False, threads=1)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["piano.json", "piano.pt"]
    meta = json.loads((tmp_path / "a" / "piano.json").read_text())
    assert meta["config"]["labels"][0] == "A0" and meta["training"]["steps"] == first["steps"] == 2
    sa = torch.load(tmp_path / "a" / "piano.pt", weights_only=True)
    sb = torch.load(tmp_path / "b" / "piano.pt", weights_only=True)
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=0)
    frontend, classifier, config = load_piano_model(tmp_path / "a")
    assert classifier(frontend(torch.zeros(1, config["clip_samples"]))).shape == (1, 88)


def test_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match="steps"):
        train(steps=0, out=tmp_path)
    with pytest.raises(ConfigError, match="lr"):
        train(steps=1, lr=5.0, out=tmp_path)
