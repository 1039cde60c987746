"""Bad arguments and bad inputs: ConfigError / InputError naming the argument and what is allowed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiofront.errors import ConfigError, InputError
from audiofront.frontend import (
    MFCC,
    AdditiveNoise,
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
    SpecAugment,
    Spectrogram,
    preset,
)

# Torchaudio-default mel settings leave empty filters; librosa and torchaudio warn there too.
pytestmark = pytest.mark.filterwarnings("ignore:mel_filterbank.*empty:UserWarning")

BAD_ARGUMENTS = [
    # (what is built, the name the message must carry)
    (lambda: Spectrogram(n_fft=1), "n_fft"),
    (lambda: Spectrogram(n_fft=256.0), "n_fft"),
    (lambda: Spectrogram(n_fft=True), "n_fft"),
    (lambda: Spectrogram(n_fft=256, hop_length=0), "hop_length"),
    (lambda: Spectrogram(n_fft=256, hop_length=-3), "hop_length"),
    (lambda: Spectrogram(n_fft=256, hop_length=64.0), "hop_length"),
    (lambda: Spectrogram(n_fft=256, win_length=257), "win_length"),
    (lambda: Spectrogram(n_fft=256, win_length=0), "win_length"),
    (lambda: Spectrogram(n_fft=256, pad=-1), "pad"),
    (lambda: Spectrogram(n_fft=256, window="tukey"), "window"),
    (lambda: Spectrogram(n_fft=256, window=3), "window"),
    (lambda: Spectrogram(n_fft=256, window=torch.ones(200)), "window"),
    (lambda: Spectrogram(n_fft=256, window=torch.ones(16, 16)), "window"),
    (lambda: Spectrogram(n_fft=256, window=torch.full((256,), float("nan"))), "window"),
    (lambda: Spectrogram(n_fft=256, power=0), "power"),
    (lambda: Spectrogram(n_fft=256, power=-2.0), "power"),
    (lambda: Spectrogram(n_fft=256, power=float("inf")), "power"),
    (lambda: Spectrogram(n_fft=256, power="2"), "power"),
    (lambda: Spectrogram(n_fft=256, pad_mode="circular"), "pad_mode"),
    (lambda: Spectrogram(n_fft=256, normalized="yes"), "normalized"),
    (lambda: Spectrogram(n_fft=256, algorithm="magic"), "algorithm"),
    (lambda: InverseSpectrogram(n_fft=256, win_length=300), "win_length"),
    (lambda: InverseSpectrogram(n_fft=256, hop_length=0), "hop_length"),
    (lambda: InverseSpectrogram(n_fft=256, normalized="yes"), "normalized"),
    (lambda: Magnitude(power=0.0), "power"),
    (lambda: Magnitude(power=None), "power"),
    (lambda: MelSpectrogram(sample_rate=16000, f_max=8001.0), "f_max"),
    (lambda: MelSpectrogram(sample_rate=16000, f_min=-1.0), "f_min"),
    (lambda: MelSpectrogram(sample_rate=16000, f_min=8000.0), "f_min"),
    (lambda: MelSpectrogram(sample_rate=16000, f_min=4000.0, f_max=3000.0), "f_max"),
    (lambda: MelSpectrogram(sample_rate=16000, n_mels=0), "n_mels"),
    (lambda: MelSpectrogram(sample_rate=16000, n_mels=12.5), "n_mels"),
    (lambda: MelSpectrogram(sample_rate=0), "sample_rate"),
    (lambda: MelSpectrogram(sample_rate=16000, power=None), "power"),
    (lambda: MelSpectrogram(sample_rate=16000, norm="l2"), "norm"),
    (lambda: MelSpectrogram(sample_rate=16000, mel_scale="bark"), "mel_scale"),
    (lambda: MelSpectrogram(sample_rate=16000, n_fft=512, hop_length=0), "hop_length"),
    (lambda: MelSpectrogram(sample_rate=16000, n_fft=512, win_length=1024), "win_length"),
    (lambda: MelScale(n_stft=1), "n_stft"),
    (lambda: MelScale(n_stft=129, n_fft=512), "n_stft"),
    (lambda: MelScale(n_stft=201, n_fft=512), "n_stft"),  # 201 is the default, but given here: it disagrees
    (lambda: MelScale(sample_rate=16000, f_max=9000.0), "f_max"),
    (lambda: Filterbank(np.ones(5)), "weights"),
    (lambda: Filterbank(np.full((5, 3), np.inf)), "weights"),
    (lambda: Filterbank.log(sample_rate=8000, n_fft=256, n_bins=100), "n_bins"),
    (lambda: Filterbank.log(sample_rate=8000, n_fft=256, bins_per_octave=0), "bins_per_octave"),
    (lambda: Filterbank.linear(sample_rate=8000, n_fft=256, n_bins=0), "n_bins"),
    (lambda: Filterbank.random(n_fft=256, n_bins=0), "n_bins"),
    (lambda: AmplitudeToDB(stype="energy"), "stype"),
    (lambda: AmplitudeToDB(top_db=-10.0), "top_db"),
    (lambda: AmplitudeToDB(top_db=float("nan")), "top_db"),
    (lambda: AmplitudeToDB(top_db="80"), "top_db"),
    (lambda: AmplitudeToDB(amin=0.0), "amin"),
    (lambda: AmplitudeToDB(ref_value=-1.0), "ref_value"),
    (lambda: MFCC(n_mfcc=0), "n_mfcc"),
    (lambda: MFCC(n_mfcc=41, melkwargs={"n_mels": 40}), "n_mfcc"),
    (lambda: MFCC(dct_type=3), "dct_type"),
    (lambda: MFCC(norm="l1"), "norm"),
    (lambda: MFCC(melkwargs={"sample_rate": 8000}), "sample_rate"),
    (lambda: ComputeDeltas(win_length=4), "win_length"),
    (lambda: ComputeDeltas(win_length=1), "win_length"),
    (lambda: ComputeDeltas(mode="zeros"), "mode"),
    (lambda: Normalize("batch"), "mode"),
    (lambda: Normalize("time", eps=0.0), "eps"),
    (lambda: FrozenNormalize(torch.zeros(3), torch.ones(4)), "mean and std"),
    (lambda: FrozenNormalize(torch.zeros(3), -torch.ones(3)), "std"),
    (lambda: FrozenNormalize.fit([torch.randn(4, 5)], per="channel"), "per"),
    (lambda: AdditiveNoise(snr_db=(30.0, 10.0)), "snr_db"),
    (lambda: AdditiveNoise(snr_db=5.0), "snr_db"),
    (lambda: AdditiveNoise(p=1.5), "p"),
    (lambda: SpecAugment(freq_mask_param=-1), "freq_mask_param"),
    (lambda: SpecAugment(time_mask_param=2.5), "time_mask_param"),
    (lambda: SpecAugment(n_freq_masks=-1), "n_freq_masks"),
    (lambda: SpecAugment(p=-0.1), "p"),
    (lambda: FrontEnd(Spectrogram(), sample_rate=0), "sample_rate"),
    (lambda: preset("kapre-unknown"), "preset"),
]


@pytest.mark.parametrize("build, argument", BAD_ARGUMENTS, ids=[f"{i}-{a}" for i, (_, a) in enumerate(BAD_ARGUMENTS)])
def test_bad_argument_raises_config_error_naming_it(build, argument):
    with pytest.raises(ConfigError, match=argument) as info:
        build()
    assert isinstance(info.value, ValueError)


# --- inputs -----------------------------------------------------------------------------------------

WAVE_MODULES = [Spectrogram(n_fft=64), MelSpectrogram(sample_rate=8000, n_fft=64, n_mels=8), MFCC(
    sample_rate=8000, n_mfcc=4, melkwargs={"n_fft": 64, "n_mels": 8}), AdditiveNoise().train()]
FEATURE_MODULES = [AmplitudeToDB(), Normalize("frequency"), Filterbank.random(n_fft=64, n_bins=4),
                   FrozenNormalize(torch.zeros(33), torch.ones(33)), ComputeDeltas(), SpecAugment(3, 3).train()]
COMPLEX_MODULES = [InverseSpectrogram(n_fft=64), Magnitude(), Phase()]


@pytest.mark.parametrize("module", WAVE_MODULES + FEATURE_MODULES + COMPLEX_MODULES, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("dtype", [torch.int16, torch.int32, torch.bool])
def test_non_float_input_is_rejected(module, dtype):
    shape = (2, 33, 40, 2) if module in COMPLEX_MODULES else (2, 33, 400)
    with pytest.raises(InputError, match="float"):
        module(torch.zeros(shape, dtype=dtype))


@pytest.mark.parametrize("module", WAVE_MODULES + FEATURE_MODULES + COMPLEX_MODULES, ids=lambda m: type(m).__name__)
def test_non_tensor_input_is_rejected(module):
    with pytest.raises(InputError, match="Tensor|tensor"):
        module(np.zeros((2, 33, 400), dtype=np.float32))


@pytest.mark.parametrize("module", WAVE_MODULES, ids=lambda m: type(m).__name__)
def test_scalar_waveform_is_rejected(module):
    with pytest.raises(InputError, match=r"\(\.\.\., time\)"):
        module(torch.tensor(1.0))


@pytest.mark.parametrize("module", FEATURE_MODULES[:4], ids=lambda m: type(m).__name__)
def test_features_need_freq_and_frames(module):
    with pytest.raises(InputError, match=r"freq, frames"):
        module(torch.rand(33))


def test_wrong_number_of_bins_is_rejected():
    with pytest.raises(InputError, match="33"):
        Filterbank.random(n_fft=64, n_bins=4)(torch.rand(2, 32, 10))
    with pytest.raises(InputError, match="expects 33"):
        FrozenNormalize(torch.zeros(33), torch.ones(33))(torch.rand(2, 20, 10))
    with pytest.raises(InputError, match="129"):
        MelScale(n_stft=129)(torch.rand(2, 201, 10))
    with pytest.raises(InputError, match="n_fft=64 needs 33"):
        InverseSpectrogram(n_fft=64)(torch.rand(2, 20, 10, 2))


def test_complex_layout_is_checked():
    with pytest.raises(InputError, match=r"\(\.\.\., freq, frames, 2\)"):
        Magnitude()(torch.rand(33, 10, 3))
    with pytest.raises(InputError, match=r"\(\.\.\., freq, frames, 2\)"):
        Phase()(torch.rand(10, 2))
    with pytest.raises(InputError, match="length"):
        InverseSpectrogram(n_fft=64)(torch.rand(33, 10, 2), length=0)


def test_normalize_example_needs_a_channel_dim():
    with pytest.raises(InputError, match="3 dims"):
        Normalize("example")(torch.rand(33, 10))


def _min_length_configs() -> list[dict]:
    rng = np.random.default_rng(17)
    configs = []
    for i in range(18):
        configs.append({
            "n_fft": int(rng.integers(2, 400)),
            "hop_length": int(rng.integers(1, 100)),
            "pad": int(rng.integers(0, 40)) if i % 2 else 0,
            "center": i % 4 != 3,
            "pad_mode": ("reflect", "constant", "replicate")[i % 3],
        })
    return configs


MIN_LENGTH_CONFIGS = _min_length_configs()


def test_min_length_grid_covers_every_padding():
    assert {(c["center"], c["pad_mode"], c["pad"] > 0) for c in MIN_LENGTH_CONFIGS if c["center"]} == {
        (True, mode, padded) for mode in ("reflect", "constant", "replicate") for padded in (False, True)}
    assert any(not c["center"] and c["pad"] for c in MIN_LENGTH_CONFIGS)


@pytest.mark.parametrize("c", MIN_LENGTH_CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_min_length_is_exactly_the_boundary(c):
    spec = Spectrogram(**c)
    n = spec.min_length
    out = spec(torch.randn(2, n))
    assert out.shape == (2, spec.n_freq, spec.frames(n)) and spec.frames(n) >= 1
    if n > 1:
        with pytest.raises(InputError, match=rf"at least {n}\b"):
            spec(torch.randn(2, n - 1))
    else:
        with pytest.raises(InputError, match=r"at least 1\b"):
            spec(torch.randn(2, 0))


def test_min_length_values():
    # Reflection needs n_fft // 2 + 1 samples; zero padding needs one; no centring needs n_fft.
    assert Spectrogram(n_fft=512).min_length == 257
    assert Spectrogram(n_fft=511).min_length == 256
    assert Spectrogram(n_fft=512, pad_mode="constant").min_length == 1
    assert Spectrogram(n_fft=512, center=False).min_length == 512
    assert Spectrogram(n_fft=512, center=False, pad=6).min_length == 500
    assert Spectrogram(n_fft=512, pad=100).min_length == 57
    # Kapre's framing: frames of win_length samples; pad_end keeps any length; pad_begin counts.
    assert Spectrogram(n_fft=512, win_length=300, center=False, window_align="start").min_length == 300
    assert Spectrogram(n_fft=512, center=False, pad_end=True).min_length == 1
    assert Spectrogram(n_fft=512, hop_length=128, center=False, pad_begin=384).min_length == 128
    assert preset("kapre-logmel").spectrogram.min_length == 512


@pytest.mark.parametrize("build", [
    lambda: MelSpectrogram(sample_rate=16000, n_fft=512),
    lambda: MFCC(melkwargs={"n_fft": 512}),
    lambda: preset("bench-logmel"),
], ids=["mel", "mfcc", "preset"])
def test_too_short_message_states_the_minimum(build):
    with pytest.raises(InputError, match=r"at least 257 \(shape \(3, 100\)"):
        build()(torch.randn(3, 100))
