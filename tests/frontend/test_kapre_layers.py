"""audiofront.frontend.kapre against the real Kapre 0.4.1, layer by layer (torch).

The references were written by scripts/kapre_reference.py with tensorflow-cpu 2.20 and kapre 0.4.1
(versions inside each file); every module here is built from the Kapre arguments stored beside
the output it must reproduce. Inputs: batch 2 (item 1 40 dB quieter), stereo; mono is channel 0.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from audiofront.frontend import kapre
from tests.frontend.kapre_refs import TOL, kapre_kwargs, load, rel_l2, settings, wrapped_rel_l2

pytestmark = pytest.mark.filterwarnings("ignore:.*filters are empty:UserWarning")

STFT_NAMES = ("paper", "speech", "cd441", "defaults", "kaiser", "kbd")
T = torch.from_numpy


def test_references_record_the_versions():
    for name in ("stft", "spectrograms", "istft", "features", "signal"):
        _, meta = load(name)
        v = meta["versions"]
        assert v["kapre"] == "0.4.1" and v["tensorflow"].startswith("2.20.") and v["keras"].startswith("3.13.")
        assert v["image_data_format"] == "channels_last" and meta["entries"]


@pytest.mark.parametrize("name", STFT_NAMES)
def test_stft_magnitude_and_db_equal_kapre(name):
    arrays, meta = load("stft")
    x = T(arrays[f"{name}/x"])
    kw = kapre_kwargs(meta, f"{name}/stft")
    stft = kapre.STFT(**kw)
    spec = stft(x)
    assert rel_l2(spec, arrays[f"{name}/stft"]) <= TOL
    assert stft.frames(x.shape[1]) == spec.shape[1]
    assert rel_l2(stft(x[..., :1]), arrays[f"{name}/stft"][..., :1, :]) <= TOL  # mono
    complex_spec = kapre.STFT(**kw, return_complex=True)(x)
    assert complex_spec.is_complex() and rel_l2(torch.view_as_real(complex_spec), arrays[f"{name}/stft"]) <= TOL
    kapre_stft = T(arrays[f"{name}/stft"])
    magnitude = np.hypot(arrays[f"{name}/stft"][..., 0], arrays[f"{name}/stft"][..., 1])
    if f"{name}/phase" in arrays:
        # Magnitude / Phase on Kapre's own STFT: the layers alone.
        assert rel_l2(kapre.Magnitude()(kapre_stft), arrays[f"{name}/magnitude"]) <= TOL
        assert rel_l2(kapre.Phase()(kapre_stft), arrays[f"{name}/phase"]) <= TOL
        # ...and the phase of our STFT, modulo 2 pi where the bin is not rounding noise.
        assert wrapped_rel_l2(kapre.Phase()(spec), arrays[f"{name}/phase"], magnitude) <= 1e-4
    db = kapre.get_stft_magnitude_layer(**kapre_kwargs(meta, f"{name}/stft_db"))
    assert rel_l2(db(x), arrays[f"{name}/stft_db"]) <= TOL
    assert rel_l2(db(x[..., :1]), arrays[f"{name}/stft_db_mono"]) <= TOL


def test_stft_channels_first_and_db_arguments():
    arrays, meta = load("stft")
    x = T(arrays["paper/x"])
    cf = kapre.STFT(**kapre_kwargs(meta, "paper/stft_channels_first"))
    assert rel_l2(cf(x[:, :768].transpose(1, 2)), arrays["paper/stft_channels_first"]) <= TOL
    db = kapre.MagnitudeToDecibel(**kapre_kwargs(meta, "paper/magnitude_to_db_args"))
    assert rel_l2(db(T(arrays["paper/magnitude"])), arrays["paper/magnitude_to_db_args"]) <= TOL
    phase = kapre.Phase(**kapre_kwargs(meta, "paper/phase_approx20"))
    assert rel_l2(phase(T(arrays["paper/stft"])), arrays["paper/phase_approx20"]) <= TOL


@pytest.mark.parametrize("name", ["mel_paper", "mel_speech", "mel_cd441", "mel_defaults", "log_defaults", "log_cd441"])
def test_mel_and_log_spectrograms_equal_kapre(name):
    stft_arrays, _ = load("stft")
    arrays, meta = load("spectrograms")
    get = kapre.get_melspectrogram_layer if name.startswith("mel") else kapre.get_log_frequency_spectrogram_layer
    raw_key = f"{name}/{'mel' if name.startswith('mel') else 'log'}"
    x = T(stft_arrays[settings(meta, raw_key)["input"].replace("/x", "") + "/x"])
    assert rel_l2(get(**kapre_kwargs(meta, raw_key))(x), arrays[raw_key]) <= TOL
    db = get(**kapre_kwargs(meta, f"{name}/db"))
    assert rel_l2(db(x), arrays[f"{name}/db"]) <= TOL
    assert rel_l2(db(x[..., :1]), arrays[f"{name}/db_mono"]) <= TOL


def test_mel_channels_first_and_mag_phase_equal_kapre():
    stft_arrays, _ = load("stft")
    arrays, meta = load("spectrograms")
    mel = kapre.get_melspectrogram_layer(**kapre_kwargs(meta, "mel_paper/db_channels_first"))
    assert rel_l2(mel(T(stft_arrays["paper/x"]).transpose(1, 2)), arrays["mel_paper/db_channels_first"]) <= TOL
    x = T(stft_arrays["speech/x"])
    out = kapre.get_stft_mag_phase(**kapre_kwargs(meta, "speech/mag_phase"))(x)
    ref = arrays["speech/mag_phase"]
    assert out.shape == ref.shape == (2, ref.shape[1], 201, 4)
    assert rel_l2(out[..., :2], ref[..., :2]) <= TOL
    magnitude = np.hypot(stft_arrays["speech/stft"][..., 0], stft_arrays["speech/stft"][..., 1])
    assert wrapped_rel_l2(out[..., 2:], ref[..., 2:], magnitude) <= 1e-4


@pytest.mark.parametrize("name", ["paper", "speech", "cd441", "kbd"])
def test_inverse_stft_equals_kapre(name):
    stft_arrays, _ = load("stft")
    arrays, meta = load("istft")
    kw = kapre_kwargs(meta, f"{name}/istft")
    spec = T(stft_arrays[f"{name}/stft"])
    ref = arrays[f"{name}/istft"]
    assert rel_l2(kapre.InverseSTFT(**kw)(spec), ref) <= TOL
    # The true-envelope normalisation agrees away from the edges (the first/last win - hop samples).
    win, hop = kw.get("win_length") or kw["n_fft"], kw["hop_length"]
    inner = slice(win - hop, ref.shape[1] - (win - hop))
    envelope = kapre.InverseSTFT(**kw, window_norm="envelope")(spec)
    assert rel_l2(envelope[:, inner], ref[:, inner]) <= TOL
    assert rel_l2(kapre.InverseSTFT(**kw)(torch.view_as_complex(spec.contiguous())), ref) <= TOL


@pytest.mark.parametrize("n_fft, hop", [(512, 128), (400, 100)])
def test_perfectly_reconstructing_pair_equals_kapre(n_fft, hop):
    arrays, meta = load("istft")
    stft, istft = kapre.get_perfectly_reconstructing_stft_istft(**kapre_kwargs(meta, f"pr_{n_fft}_{hop}/y"))
    x = T(load("stft")[0]["paper/x"][:, :2000])
    y = istft(stft(x))
    assert rel_l2(y, arrays[f"pr_{n_fft}_{hop}/y"]) <= TOL
    start = n_fft - hop
    assert rel_l2(y[:, start : start + x.shape[1]], x) <= 1e-5  # it does reconstruct


def test_spectrogram_layers_equal_kapre():
    arrays, meta = load("features")
    spec = T(arrays["spec"])
    for key in [k for k in arrays if k.startswith("delta_")]:
        assert rel_l2(kapre.Delta(**kapre_kwargs(meta, key))(spec), arrays[key]) <= TOL, key
        assert rel_l2(kapre.Delta(**kapre_kwargs(meta, key))(spec[..., :1]), arrays[key][..., :1]) <= TOL, key
    assert rel_l2(kapre.ConcatenateFrequencyMap()(spec), arrays["freq_map"]) <= TOL
    cf = kapre.ConcatenateFrequencyMap(data_format="channels_first")(spec.permute(0, 3, 1, 2))
    assert rel_l2(cf, arrays["freq_map_channels_first"]) <= TOL
    for n in (20, 13):
        assert rel_l2(kapre.LogmelToMFCC(n_mfccs=n)(spec), arrays[f"mfcc_{n}"]) <= TOL
        cf = kapre.LogmelToMFCC(n_mfccs=n, data_format="channels_first")(spec.permute(0, 3, 1, 2))
        assert rel_l2(cf.permute(0, 2, 3, 1), arrays[f"mfcc_{n}"]) <= TOL
    kernel, bias = arrays["faconv/kernel"], arrays["faconv/bias"]
    conv = kapre.get_frequency_aware_conv2d("channels_last", "fa", in_channels=2, filters=4, kernel_size=(3, 3),
                                            padding="same")
    conv.load_keras_weights(kernel, bias)
    with torch.no_grad():
        assert rel_l2(conv(spec), arrays["faconv/y"]) <= TOL


def test_augmentation_is_kapre_at_inference_and_draws_kapre_masks():
    arrays, meta = load("features")
    spec = T(arrays["spec"])
    aug = kapre.SpecAugment(**kapre_kwargs(meta, "specaugment_inference", drop=("training",))).eval()
    assert torch.equal(aug(spec[..., :1]), T(arrays["specaugment_inference"]))
    assert torch.equal(kapre.ChannelSwap().eval()(spec), T(arrays["channelswap_inference"]))
    # Training: the same mask distribution as Kapre's 200 draws (width 1..param cells per axis).
    ref = np.unpackbits(arrays["specaugment_masks"], axis=-1)[..., :64].astype(bool)  # (200, 14, 64)
    kw = kapre_kwargs(meta, "specaugment_masks", drop=("training",))
    torch.manual_seed(0)
    ours = kapre.SpecAugment(**kw).train()(torch.ones(2000, 14, 64, 1))[..., 0] == 0
    for axis, param in ((1, kw["time_mask_param"]), (2, kw["freq_mask_param"])):
        ref_w = ref.all(axis=3 - axis).sum(-1)  # rows/cols masked across the whole other axis
        our_w = ours.numpy().all(axis=3 - axis).sum(-1)
        assert set(np.unique(our_w)) == set(np.unique(ref_w)) == set(range(1, param + 1))
        assert abs(our_w.mean() - ref_w.mean()) < 0.35
    swapped = kapre.ChannelSwap().train()(spec)
    assert any(torch.equal(swapped, spec[..., perm]) for perm in ([0, 1], [1, 0]))


def test_signal_layers_equal_kapre():
    arrays, meta = load("signal")
    x = T(arrays["x"])
    for key in ("frame_400_160", "frame_256_100"):
        assert rel_l2(kapre.Frame(**kapre_kwargs(meta, key))(x), arrays[key]) <= TOL
    cf = kapre.Frame(**kapre_kwargs(meta, "frame_channels_first"))(x.transpose(1, 2))
    assert rel_l2(cf, arrays["frame_channels_first"]) <= TOL
    stft_arrays, _ = load("stft")
    assert rel_l2(kapre.Energy()(T(stft_arrays["cd441/x"])), arrays["energy_default"]) <= TOL
    assert rel_l2(kapre.Energy(**kapre_kwargs(meta, "energy_args"))(x), arrays["energy_args"]) <= TOL
    loud = T(arrays["mulaw_input"])
    for q in (256, 16):
        codes = kapre.MuLawEncoding(q)(loud)
        assert codes.dtype == torch.int32 and np.array_equal(codes.numpy(), arrays[f"mulaw_{q}/codes"])
        decoded = kapre.MuLawDecoding(q)(T(arrays[f"mulaw_{q}/codes"]))
        assert rel_l2(decoded, arrays[f"mulaw_{q}/decoded"]) <= TOL


def test_tflite_layers_equal_kapre():
    arrays, meta = load("signal")
    stft_arrays, _ = load("stft")
    names = [k.split("/")[0] for k in arrays if k.startswith("tflite_") and k.endswith("/stft")]
    assert names, f"no STFTTflite reference (Kapre notes: {meta.get('notes')})"
    for name in names:
        x = T(stft_arrays[f"{name.removeprefix('tflite_')}/x"])
        spec = kapre.STFTTflite(**kapre_kwargs(meta, f"{name}/stft"))(x)  # any batch, not only 1
        assert rel_l2(spec[:1], arrays[f"{name}/stft"]) <= TOL
        kapre_spec = T(arrays[f"{name}/stft"])
        assert rel_l2(kapre.MagnitudeTflite()(kapre_spec), arrays[f"{name}/magnitude"]) <= TOL
        phase = kapre.PhaseTflite(**kapre_kwargs(meta, f"{name}/phase"))(kapre_spec)
        assert rel_l2(phase, arrays[f"{name}/phase"]) <= TOL


def test_backend_functions_equal_kapre():
    arrays, meta = load("signal")
    for key in [k for k in arrays if k.startswith("filterbank_")]:
        fn = kapre.backend.filterbank_mel if "mel" in key else kapre.backend.filterbank_log
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            assert rel_l2(fn(**kapre_kwargs(meta, key)), arrays[key]) <= TOL, key
    db = kapre.backend.magnitude_to_decibel(T(arrays["db_input"]), **kapre_kwargs(meta, "db_1d"))
    assert rel_l2(db, arrays["db_1d"]) <= TOL


@pytest.mark.parametrize("name", ["layers", "signal", "composed", "tflite", "augmentation", "backend"])
def test_kapre_docstring_examples_run(name):
    # test_doctests.py walks frontend/ one level deep; the kapre package's modules are one further.
    import doctest
    import importlib

    module = importlib.import_module(f"audiofront.frontend.kapre.{name}")
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    torch.manual_seed(0)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, module.__name__, globs={"torch": torch, **vars(module)})
    assert any(t.examples for t in tests)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for test in tests:
            runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
