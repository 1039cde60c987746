"""Spectrogram, InverseSpectrogram, Magnitude and Phase against librosa (float64) on drawn grids."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from audiofront.frontend import InverseSpectrogram, Magnitude, Phase, Spectrogram
from tests.frontend.references import (
    TOLERANCE,
    config_id,
    draw_stft_configs,
    librosa_window,
    module_window,
    rel_l2,
    waveform,
)

CONFIGS = draw_stft_configs(20, seed=20261125)


def _stft_kwargs(c: dict) -> dict:
    return {k: c[k] for k in ("n_fft", "win_length", "hop_length", "center")}


def _signal(c: dict) -> tuple[torch.Tensor, np.ndarray]:
    """The module's float32 input and the same values in float64 for librosa."""
    x = torch.from_numpy(waveform(c["length"], c["seed"])).float()
    return x, x.double().numpy()


def _librosa_stft(y: np.ndarray, c: dict, **overrides) -> np.ndarray:
    kwargs = dict(_stft_kwargs(c), pad_mode=c["pad_mode"], window=librosa_window(c["window"], c["win_length"], c["seed"]))
    kwargs.update(overrides)
    return librosa.stft(y, dtype=np.complex128, **kwargs)


def _spectrogram(c: dict, **kwargs) -> Spectrogram:
    return Spectrogram(**_stft_kwargs(c), pad_mode=c["pad_mode"], window=module_window(c["window"], c["win_length"], c["seed"]), **kwargs)


def test_grid_covers_every_category():
    assert {c["window"] for c in CONFIGS} == {"hann", "hamming", "blackman", "rectangular", "custom"}
    assert {c["center"] for c in CONFIGS} == {True, False}
    assert {(c["center"], c["pad_mode"]) for c in CONFIGS if c["center"]} == {(True, "reflect"), (True, "constant")}
    assert {c["n_fft"] % 2 for c in CONFIGS} == {0, 1}
    assert any(c["win_length"] < c["n_fft"] for c in CONFIGS)
    assert any(c["hop_length"] > c["win_length"] for c in CONFIGS)


# "direct" is the conv reference; the default may pick another way to compute the same DFT.
@pytest.mark.parametrize("algorithm", ["direct", None], ids=["direct", "default"])
@pytest.mark.parametrize("c", CONFIGS, ids=config_id)
def test_spectrogram_matches_librosa_stft(c, algorithm):
    x, y = _signal(c)
    ref = _librosa_stft(y, c)
    kwargs = {} if algorithm is None else {"algorithm": algorithm}
    complex_out = _spectrogram(c, power=None, **kwargs)(x)
    assert complex_out.shape == ref.shape + (2,)
    assert rel_l2(complex_out[..., 0] + 1j * complex_out[..., 1], ref) < TOLERANCE
    assert rel_l2(_spectrogram(c, power=1, **kwargs)(x), np.abs(ref)) < TOLERANCE
    assert rel_l2(_spectrogram(c, power=2, **kwargs)(x), np.abs(ref) ** 2) < TOLERANCE
    assert rel_l2(_spectrogram(c, power=0.5, **kwargs)(x), np.abs(ref) ** 0.5) < TOLERANCE


@pytest.mark.parametrize("name", ["hann", "hamming", "blackman", "rectangular"])
def test_windows_are_scipy_periodic_windows(name):
    import scipy.signal

    from audiofront.frontend import functional

    for n in (1, 2, 3, 4, 7, 64, 255, 1024):
        np.testing.assert_allclose(functional.get_window(name, n),
                                   scipy.signal.get_window(librosa_window(name, n), n, fftbins=True), atol=1e-15)


@pytest.mark.parametrize("window", ["hann", "blackman"])
def test_one_sample_window(window):
    x = torch.from_numpy(waveform(200, 8)).float()
    ref = librosa.stft(x.double().numpy(), n_fft=8, win_length=1, hop_length=3, window=window, pad_mode="reflect",
                       dtype=np.complex128)
    assert rel_l2(Spectrogram(n_fft=8, win_length=1, hop_length=3, window=window, power=1)(x), np.abs(ref)) < TOLERANCE


@pytest.mark.parametrize("c", [c for c in CONFIGS if c["center"]][:6], ids=config_id)
def test_replicate_padding_is_librosa_edge(c):
    x, y = _signal(c)
    ref = _librosa_stft(y, c, pad_mode="edge")
    out = _spectrogram(dict(c, pad_mode="replicate"), power=None)(x)
    assert rel_l2(out[..., 0] + 1j * out[..., 1], ref) < TOLERANCE


@pytest.mark.parametrize("c", CONFIGS[:8], ids=config_id)
def test_frames_formula_matches_output(c):
    x, _ = _signal(c)
    spec = _spectrogram(c)
    assert spec(x).shape[-1] == spec.frames(c["length"])


@pytest.mark.parametrize("c", CONFIGS[:10], ids=config_id)
def test_pad_is_zero_padding_before_the_stft(c):
    pad = int(np.random.default_rng(c["seed"]).integers(1, c["n_fft"]))
    x, y = _signal(c)
    ref = _librosa_stft(np.pad(y, pad), c)
    out = _spectrogram(c, power=None, pad=pad)(x)
    assert rel_l2(out[..., 0] + 1j * out[..., 1], ref) < TOLERANCE


@pytest.mark.parametrize("c", CONFIGS[:10], ids=config_id)
def test_normalized_frame_length_matches_torch_stft(c):
    x, _ = _signal(c)
    window = torch.from_numpy(librosa.util.pad_center(librosa.filters.get_window(
        librosa_window(c["window"], c["win_length"], c["seed"]), c["win_length"], fftbins=True), size=c["n_fft"]))
    ref = torch.stft(x.double(), c["n_fft"], hop_length=c["hop_length"], window=window, center=c["center"],
                     pad_mode=c["pad_mode"], normalized=True, return_complex=True)
    out = _spectrogram(c, power=None, normalized="frame_length")(x)
    assert rel_l2(out[..., 0] + 1j * out[..., 1], ref) < TOLERANCE


@pytest.mark.parametrize("c", CONFIGS[:10], ids=config_id)
@pytest.mark.parametrize("normalized", [True, "window"])
def test_normalized_window_divides_by_the_window_norm(c, normalized):
    # torchaudio's normalized=True: the STFT divided by the window's L2 norm.
    x, y = _signal(c)
    w = librosa.filters.get_window(librosa_window(c["window"], c["win_length"], c["seed"]), c["win_length"], fftbins=True)
    ref = _librosa_stft(y, c) / np.linalg.norm(w)
    out = _spectrogram(c, power=2, normalized=normalized)(x)
    assert rel_l2(out, np.abs(ref) ** 2) < TOLERANCE


# --- inverse ------------------------------------------------------------------------------------

def _conditioned(c: dict, n_frames: int, out_len: int) -> np.ndarray:
    """Samples where the overlap-added squared window is not tiny.

    Elsewhere the inverse divides by nearly zero (e.g. the first sample of a Hann window with
    ``center=False``): float32 rounding is amplified by ``1 / window``, and librosa's float64
    answer there is no better, so those samples say nothing about correctness.
    """
    env = librosa.filters.window_sumsquare(
        window=librosa_window(c["window"], c["win_length"], c["seed"]), n_frames=n_frames, hop_length=c["hop_length"],
        win_length=c["win_length"], n_fft=c["n_fft"], dtype=np.float64)
    start = c["n_fft"] // 2 if c["center"] else 0
    floor = 1e-4 * env.max()
    env = np.pad(env[start:], (0, max(0, out_len - env.size + start)))[:out_len]
    return env >= floor


def _inverse(c: dict, **kwargs) -> InverseSpectrogram:
    return InverseSpectrogram(**_stft_kwargs(c), window=module_window(c["window"], c["win_length"], c["seed"]), **kwargs)


def _librosa_istft(spec: np.ndarray, c: dict, length=None) -> np.ndarray:
    return librosa.istft(spec, **_stft_kwargs(c), window=librosa_window(c["window"], c["win_length"], c["seed"]),
                         length=length, dtype=np.float64)


def _pairs(z: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack([z.real, z.imag], axis=-1)).float()


# Overlap-add needs windows that overlap: keep the grid's configurations whose hop leaves no gaps.
INVERTIBLE = [c for c in CONFIGS if c["hop_length"] <= c["win_length"] // 2]


def test_inverse_grid_is_not_trivial():
    assert len(INVERTIBLE) >= 10
    assert {c["center"] for c in INVERTIBLE} == {True, False}


@pytest.mark.parametrize("c", INVERTIBLE, ids=config_id)
def test_inverse_matches_librosa_istft(c):
    _, y = _signal(c)
    rng = np.random.default_rng(c["seed"])
    # A consistent spectrum (from a signal) and an arbitrary one (no signal has it).
    spectra = [_librosa_stft(y, c), rng.standard_normal((c["n_fft"] // 2 + 1, 9)) + 1j * rng.standard_normal((c["n_fft"] // 2 + 1, 9))]
    for spec in spectra:
        for length in (None, int(rng.integers(1, 2 * c["length"]))):
            ref = _librosa_istft(spec, c, length)
            out = _inverse(c)(_pairs(spec), length=length)
            assert out.shape == ref.shape
            ok = _conditioned(c, spec.shape[-1], ref.shape[-1])
            if ok.any():
                assert rel_l2(out.numpy()[ok], ref[ok]) < TOLERANCE, (length, int((~ok).sum()))


@pytest.mark.parametrize("c", INVERTIBLE, ids=config_id)
def test_round_trip_restores_the_signal(c):
    x, _ = _signal(c)
    spec = _spectrogram(c, power=None)(x)
    out = _inverse(c)(spec, length=c["length"])
    ok = _conditioned(c, spec.shape[-2], c["length"])
    # Centred frames cover every sample with a window of real weight; without centring the
    # first and last samples sit on the windows' tapered ends.
    assert ok.all() if c["center"] else ok.any()
    assert rel_l2(out.numpy()[ok], x.numpy()[ok]) < TOLERANCE


@pytest.mark.parametrize("normalized", [True, "frame_length"])
def test_round_trip_with_normalization(normalized):
    x = torch.from_numpy(waveform(2000, 3)).float()
    spec = Spectrogram(n_fft=128, hop_length=32, power=None, normalized=normalized)(x)
    out = InverseSpectrogram(n_fft=128, hop_length=32, normalized=normalized)(spec, length=2000)
    assert rel_l2(out, x) < TOLERANCE


@pytest.mark.parametrize("center", [True, False])
def test_round_trip_with_pad(center):
    x = torch.from_numpy(waveform(1500, 6, batch=(2,))).float()
    kwargs = dict(n_fft=96, hop_length=24, pad=40, center=center)
    spec = Spectrogram(power=None, **kwargs)(x)
    out = InverseSpectrogram(**kwargs)(spec, length=1500)
    assert rel_l2(out, x) < TOLERANCE
    # Without length: what the frames cover, the pad removed again.
    natural = InverseSpectrogram(**kwargs)(spec)
    assert natural.shape[-1] == (spec.shape[-2] - 1) * 24 + 96 - 2 * 40 - (96 if center else 0)
    torch.testing.assert_close(natural[..., 48:1400], x[..., 48:1400], rtol=1e-4, atol=1e-4)


def test_inverse_accepts_a_complex_tensor():
    rng = np.random.default_rng(5)
    z = rng.standard_normal((2, 65, 20)) + 1j * rng.standard_normal((2, 65, 20))
    inv = InverseSpectrogram(n_fft=128, hop_length=32)
    from_complex = inv(torch.from_numpy(z).to(torch.complex64), length=700)
    from_pairs = inv(_pairs(z), length=700)
    torch.testing.assert_close(from_complex, from_pairs, rtol=0, atol=0)
    ref = np.stack([librosa.istft(zi, n_fft=128, hop_length=32, length=700, dtype=np.float64) for zi in z])
    assert rel_l2(from_complex, ref) < TOLERANCE


# --- magnitude and phase --------------------------------------------------------------------------

@pytest.mark.parametrize("c", CONFIGS[:10], ids=config_id)
def test_magnitude_and_phase_match_numpy(c):
    x, y = _signal(c)
    ref = _librosa_stft(y, c)
    spec = _spectrogram(c, power=None)(x)
    assert rel_l2(Magnitude()(spec), np.abs(ref)) < TOLERANCE
    assert rel_l2(Magnitude(power=2.0)(spec), np.abs(ref) ** 2) < TOLERANCE
    phase = Phase()(spec).double().numpy()
    # Compare angles on the circle: a real negative bin is +pi or -pi depending on a zero's sign.
    wrapped = np.angle(np.exp(1j * (phase - np.angle(ref))))
    # Phase is ill-conditioned where |X| is near zero; weigh each bin's error by its magnitude.
    assert np.linalg.norm(wrapped * np.abs(ref)) / np.linalg.norm(np.angle(ref) * np.abs(ref)) < TOLERANCE
    complex_in = torch.complex(spec[..., 0], spec[..., 1])
    torch.testing.assert_close(Phase()(complex_in), Phase()(spec), rtol=0, atol=0)
    torch.testing.assert_close(Magnitude()(complex_in), Magnitude()(spec), rtol=0, atol=0)


def test_trainable_stft_kernels_are_parameters_and_learn():
    spec = Spectrogram(n_fft=64, hop_length=16, trainable=True)
    params = list(spec.parameters())
    assert len(params) == 1
    spec(torch.randn(2, 500)).sum().backward()
    assert params[0].grad is not None and params[0].grad.abs().sum() > 0
    assert len(list(Spectrogram(n_fft=64).parameters())) == 0


# --- how the DFT is computed must not change the numbers ---------------------------------------------

FACTORABLE = [dict(c, n_fft=n_fft, win_length=n_fft, hop_length=hop, length=c["length"] + 2 * n_fft) for c, (n_fft, hop) in
              zip(CONFIGS, [(256, 64), (512, 256), (128, 32), (384, 96), (256, 128), (160, 80)])]


@pytest.mark.parametrize("algorithm", ["direct", "factored", "auto", "auto-direct"])
@pytest.mark.parametrize("c", FACTORABLE, ids=config_id)
def test_every_dft_algorithm_matches_librosa(c, algorithm):
    x, y = _signal(c)
    ref = _librosa_stft(y, c)
    out = _spectrogram(c, power=None, algorithm=algorithm)(x)
    assert rel_l2(out[..., 0] + 1j * out[..., 1], ref) < TOLERANCE
    assert rel_l2(_spectrogram(c, power=2, algorithm=algorithm)(x), np.abs(ref) ** 2) < TOLERANCE


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_other_float_inputs_compute_in_the_module_dtype(dtype):
    from audiofront.frontend import MFCC, ComputeDeltas, MelSpectrogram

    x = torch.from_numpy(waveform(3000, 4, batch=(2,))).to(dtype)
    for module in (Spectrogram(n_fft=128), MelSpectrogram(sample_rate=8000, n_fft=128, n_mels=16),
                   MFCC(sample_rate=8000, n_mfcc=8, melkwargs={"n_fft": 128, "n_mels": 16})):
        out = module(x)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, module(x.float()), rtol=0, atol=0)
    spec = Spectrogram(n_fft=128, power=None)(x.float())
    inverse = InverseSpectrogram(n_fft=128)
    torch.testing.assert_close(inverse(spec.to(dtype)), inverse(spec.to(dtype).float()), rtol=0, atol=0)
    deltas = ComputeDeltas()
    torch.testing.assert_close(deltas(spec[..., 0].to(dtype)), deltas(spec[..., 0].to(dtype).float()), rtol=0, atol=0)
    # A module cast to float64 computes in float64.
    assert Spectrogram(n_fft=128).double()(x).dtype == torch.float64


@pytest.mark.parametrize("window_fn, name", [(torch.hann_window, "hann"), (torch.hamming_window, "hamming"),
                                             (torch.blackman_window, "blackman")])
def test_torchaudio_window_functions_are_accepted(window_fn, name):
    x = torch.from_numpy(waveform(3000, seed=7)).float()
    by_fn = Spectrogram(n_fft=256, win_length=200, hop_length=64, window=window_fn, power=None, algorithm="direct")(x)
    ref = librosa.stft(waveform(3000, seed=7).astype(np.float64), n_fft=256, win_length=200, hop_length=64,
                       window=name, pad_mode="reflect")
    got = by_fn[..., 0].double().numpy() + 1j * by_fn[..., 1].double().numpy()
    assert rel_l2(got, ref) < TOLERANCE
