"""Write the reference outputs of the real Kapre 0.4.1 that tests/frontend/kapre compares against.

Needs TensorFlow, so it runs in its own virtual environment, never in CI (CI only reads the files):

    python3 -m venv /tmp/kapre-tf
    /tmp/kapre-tf/bin/pip install tensorflow-cpu==2.20.0     # alone first: Kapre pins the name `tensorflow`
    /tmp/kapre-tf/bin/pip install kapre==0.4.1               # check pip did not pull `tensorflow` as well
    /tmp/kapre-tf/bin/python scripts/kapre_reference.py      # -> tests/frontend/kapre_reference/*.npz

Every file holds its inputs (seeded, float32), Kapre's outputs, and a JSON string ``meta`` with
the versions (python, numpy, tensorflow, keras, kapre, librosa) and the settings of every entry.
Inputs are short (0.05-0.15 s, batch 2, stereo; mono is channel 0) to keep the files small (< 1.5 MB).
Only numpy, TensorFlow and Kapre are imported: no audiofront, no torch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402

STFT_CONFIGS = [
    # name, sample rate, samples, STFT arguments (Kapre's names)
    ("paper", 16000, 2304, dict(n_fft=512, hop_length=256)),
    ("speech", 16000, 1600, dict(n_fft=400, win_length=300, hop_length=160, window_name="hamming_window", pad_end=True)),
    ("cd441", 22050, 2205, dict(n_fft=1024, hop_length=441, window_name="vorbis_window", pad_begin=True, pad_end=True)),
    ("defaults", 22050, 3072, dict(n_fft=2048)),
    ("kaiser", 16000, 1000, dict(n_fft=256, win_length=200, hop_length=100, window_name="kaiser_window", pad_begin=True)),
    ("kbd", 16000, 800, dict(n_fft=256, hop_length=64, window_name="kaiser_bessel_derived_window")),
]
MEL_CONFIGS = [
    # name, STFT config, mel arguments
    ("mel_paper", "paper", dict(sample_rate=16000, n_mels=64)),
    ("mel_speech", "speech", dict(sample_rate=16000, n_mels=40, mel_f_min=20.0, mel_f_max=7600.0, mel_htk=True,
                                  mel_norm=None)),
    ("mel_cd441", "cd441", dict(sample_rate=22050, n_mels=96, mel_norm=1)),
    ("mel_defaults", "defaults", dict(sample_rate=22050)),
]
LOG_CONFIGS = [
    ("log_defaults", "defaults", dict(sample_rate=22050)),
    ("log_cd441", "cd441", dict(sample_rate=22050, log_n_bins=60, log_f_min=55.0, log_spread=0.25)),
]


def signal(rate: int, length: int, seed: int, channels: int = 2) -> np.ndarray:
    """``(2, length, channels)`` float32: noise plus two tones per channel; item 1 is 40 dB quieter."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / rate
    x = 0.05 * rng.standard_normal((2, length, channels))
    for b in range(2):
        for c in range(channels):
            f1, f2 = rng.uniform(100, rate / 4), rng.uniform(rate / 4, rate / 2.2)
            x[b, :, c] += 0.5 * np.sin(2 * np.pi * f1 * t + rng.uniform(0, 6)) + 0.2 * np.sin(2 * np.pi * f2 * t)
    x[1] *= 0.01
    # Rounded to float16 values: stored as float16 (half the bytes), they are still exactly the float32
    # numbers Kapre was given.
    return x.astype(np.float16).astype(np.float32)


class Writer:
    """Collects arrays and their settings for one .npz file."""

    def __init__(self, versions: dict):
        self.arrays: dict[str, np.ndarray] = {}
        self.meta: dict = {"versions": versions, "entries": {}}

    def add(self, key: str, value, **settings) -> None:
        value = np.asarray(value)
        if np.iscomplexobj(value):
            value = np.stack([value.real, value.imag], axis=-1)
        if value.dtype == np.float64:
            value = value.astype(np.float32)
        self.arrays[key] = value
        if settings:
            self.meta["entries"][key] = settings

    def note(self, key: str, text: str) -> None:
        self.meta.setdefault("notes", {})[key] = text

    def save(self, path: Path) -> None:
        np.savez_compressed(path, meta=np.array(json.dumps(self.meta, sort_keys=True)), **self.arrays)
        print(f"{path}: {path.stat().st_size / 1024:.1f} KiB, {len(self.arrays)} arrays")


def run(layer, x, **kwargs):
    return np.asarray(layer(x, **kwargs))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "tests/frontend/kapre_reference"))
    args = parser.parse_args(argv)

    import keras
    import kapre
    import librosa
    import tensorflow as tf
    from importlib.metadata import version

    tf.random.set_seed(0)
    versions = {"python": platform.python_version(), "numpy": np.__version__, "tensorflow": tf.__version__,
                "keras": keras.__version__, "kapre": version("kapre"), "librosa": librosa.__version__,
                "image_data_format": keras.config.image_data_format()}
    print(versions)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    inputs = {name: signal(rate, length, seed) for seed, (name, rate, length, _) in enumerate(STFT_CONFIGS)}
    stft_args = {name: kw for name, _, _, kw in STFT_CONFIGS}

    # --- STFT, Magnitude, Phase, MagnitudeToDecibel, get_stft_magnitude_layer ----------------------
    w = Writer(versions)
    stfts = {}
    for name, rate, length, kw in STFT_CONFIGS:
        x = inputs[name]
        w.add(f"{name}/x", x.astype(np.float16), sample_rate=rate, stored="float16, exact: Kapre got these values")
        stft = run(kapre.STFT(**kw), x)
        stfts[name] = stft
        w.add(f"{name}/stft", stft, layer="STFT", **kw)
        if name == "paper":  # the layers alone, on Kapre's own STFT
            w.add(f"{name}/magnitude", run(kapre.Magnitude(), stft), layer="Magnitude")
            w.add(f"{name}/phase", run(kapre.Phase(), stft), layer="Phase")
        mag = kapre.composed.get_stft_magnitude_layer(**kw, return_decibel=True)
        w.add(f"{name}/stft_db", run(mag, x), layer="get_stft_magnitude_layer", return_decibel=True, **kw)
        w.add(f"{name}/stft_db_mono", run(mag, x[..., :1]), layer="get_stft_magnitude_layer", return_decibel=True,
              input="x[..., :1]", **kw)
    paper = stft_args["paper"]
    w.add("paper/phase_approx20", run(kapre.Phase(approx_atan_accuracy=20), stfts["paper"]), layer="Phase",
          approx_atan_accuracy=20)
    w.add("paper/magnitude_to_db_args", run(kapre.MagnitudeToDecibel(ref_value=0.5, amin=1e-3, dynamic_range=50.0),
                                           np.abs(stfts["paper"]).astype(np.float32)),
          layer="MagnitudeToDecibel", ref_value=0.5, amin=1e-3, dynamic_range=50.0, input="paper/magnitude")
    cf = kapre.STFT(**paper, input_data_format="channels_first", output_data_format="channels_first")
    w.add("paper/stft_channels_first", run(cf, np.ascontiguousarray(inputs["paper"][:, :768].transpose(0, 2, 1))),
          layer="STFT", input_data_format="channels_first", output_data_format="channels_first",
          input="paper/x[:, :768] transposed", **paper)
    w.save(out / "stft.npz")

    # --- mel / log-frequency spectrograms, mag+phase --------------------------------------------------
    w = Writer(versions)
    for name, stft_name, kw in MEL_CONFIGS:
        x, geometry = inputs[stft_name], stft_args[stft_name]
        for db in (False, True):
            layer = kapre.composed.get_melspectrogram_layer(**geometry, **kw, return_decibel=db)
            key = f"{name}/{'db' if db else 'mel'}"
            w.add(key, run(layer, x), layer="get_melspectrogram_layer", input=f"{stft_name}/x", return_decibel=db,
                  **geometry, **kw)
        w.add(f"{name}/db_mono", run(layer, x[..., :1]), layer="get_melspectrogram_layer",
              input=f"{stft_name}/x[..., :1]", return_decibel=True, **geometry, **kw)
    for name, stft_name, kw in LOG_CONFIGS:
        x, geometry = inputs[stft_name], stft_args[stft_name]
        for db in (False, True):
            layer = kapre.composed.get_log_frequency_spectrogram_layer(**geometry, **kw, return_decibel=db)
            w.add(f"{name}/{'db' if db else 'log'}", run(layer, x), layer="get_log_frequency_spectrogram_layer",
                  input=f"{stft_name}/x", return_decibel=db, **geometry, **kw)
        w.add(f"{name}/db_mono", run(layer, x[..., :1]), layer="get_log_frequency_spectrogram_layer",
              input=f"{stft_name}/x[..., :1]", return_decibel=True, **geometry, **kw)
    mel_cf = kapre.composed.get_melspectrogram_layer(**paper, sample_rate=16000, n_mels=64, return_decibel=True,
                                                     input_data_format="channels_first",
                                                     output_data_format="channels_first")
    w.add("mel_paper/db_channels_first", run(mel_cf, np.ascontiguousarray(inputs["paper"].transpose(0, 2, 1))),
          layer="get_melspectrogram_layer", input="paper/x transposed", input_data_format="channels_first",
          output_data_format="channels_first", sample_rate=16000, n_mels=64, return_decibel=True, **paper)
    x = inputs["speech"]
    magphase = kapre.composed.get_stft_mag_phase(input_shape=x.shape[1:], **stft_args["speech"], return_decibel=True)
    w.add("speech/mag_phase", run(magphase, x), layer="get_stft_mag_phase", input="speech/x", return_decibel=True,
          **stft_args["speech"])
    w.save(out / "spectrograms.npz")

    # --- InverseSTFT, get_perfectly_reconstructing_stft_istft ------------------------------------------
    w = Writer(versions)
    for name in ("paper", "speech", "cd441", "kbd"):
        kw = {k: v for k, v in stft_args[name].items() if k not in ("pad_begin", "pad_end")}
        if "window_name" in kw:
            kw["forward_window_name"] = kw.pop("window_name")
        w.add(f"{name}/istft", run(kapre.InverseSTFT(**kw), stfts[name].astype(np.complex64)), layer="InverseSTFT",
              input=f"{name}/stft (stft.npz)", **kw)
    for n_fft, hop in ((512, 128), (400, 100)):
        stft, istft = kapre.composed.get_perfectly_reconstructing_stft_istft(n_fft, hop, "channels_last",
                                                                              "channels_last")
        x = inputs["paper"][:, :2000]
        w.add(f"pr_{n_fft}_{hop}/y", run(istft, stft(x)), layer="get_perfectly_reconstructing_stft_istft",
              n_fft=n_fft, hop_length=hop, waveform_data_format="channels_last", stft_data_format="channels_last",
              input="paper/x[:, :2000] (stft.npz)")
    w.save(out / "istft.npz")

    # --- Delta, ConcatenateFrequencyMap, LogmelToMFCC, frequency-aware conv, augmentation ---------------
    w = Writer(versions)
    spec = np.asarray(kapre.composed.get_melspectrogram_layer(**paper, sample_rate=16000, n_mels=64,
                                                              return_decibel=True)(inputs["paper"]))
    w.add("spec", spec, layer="get_melspectrogram_layer", input="paper/x", sample_rate=16000, n_mels=64,
          return_decibel=True, **paper)
    for win, mode in ((5, "symmetric"), (3, "reflect"), (7, "constant"), (9, "SYMMETRIC")):
        # Kapre 0.4.1's Delta fails on two channels (its conv kernel has one input channel): one call per channel.
        per_channel = [run(kapre.Delta(win_length=win, mode=mode), spec[..., c:c + 1]) for c in range(spec.shape[-1])]
        w.add(f"delta_{win}_{mode}", np.concatenate(per_channel, axis=-1), layer="Delta", win_length=win, mode=mode,
              input="spec, one channel at a time")
    try:
        kapre.Delta()(spec)
    except Exception as exc:  # noqa: BLE001 - the bug is what is recorded
        w.note("delta_stereo", f"Delta on 2 channels fails: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
    w.add("freq_map", run(kapre.ConcatenateFrequencyMap(), spec), layer="ConcatenateFrequencyMap", input="spec")
    w.add("freq_map_channels_first", run(kapre.ConcatenateFrequencyMap(data_format="channels_first"),
                                         np.ascontiguousarray(spec.transpose(0, 3, 1, 2))),
          layer="ConcatenateFrequencyMap", data_format="channels_first", input="spec as (b, ch, t, f)")
    for n in (20, 13):
        w.add(f"mfcc_{n}", run(kapre.LogmelToMFCC(n_mfccs=n), spec), layer="LogmelToMFCC", n_mfccs=n, input="spec")
    conv = kapre.composed.get_frequency_aware_conv2d(data_format="channels_last", filters=4, kernel_size=(3, 3),
                                                     padding="same")
    y = run(conv, spec)
    kernel, bias = (np.asarray(v) for v in conv.layers[1].weights)
    w.add("faconv/kernel", kernel)
    w.add("faconv/bias", bias + np.linspace(-0.1, 0.1, bias.shape[0], dtype=np.float32))
    conv.layers[1].set_weights([kernel, w.arrays["faconv/bias"]])
    w.add("faconv/y", run(conv, spec), layer="get_frequency_aware_conv2d", filters=4, kernel_size=[3, 3],
          padding="same", input="spec", weights="faconv/kernel, faconv/bias")
    del y
    aug = kapre.SpecAugment(freq_mask_param=5, time_mask_param=4, n_freq_masks=2, n_time_masks=1, mask_value=-100.0)
    w.add("specaugment_inference", run(aug, spec[..., :1], training=False), layer="SpecAugment", training=False,
          freq_mask_param=5, time_mask_param=4, n_freq_masks=2, n_time_masks=1, mask_value=-100.0, input="spec[..., :1]")
    ones = np.ones((200, 14, 64, 1), np.float32)
    masks = run(kapre.SpecAugment(freq_mask_param=5, time_mask_param=4, n_freq_masks=1, n_time_masks=1,
                                  mask_value=0.0), ones, training=True) == 0
    w.add("specaugment_masks", np.packbits(masks[..., 0], axis=-1), layer="SpecAugment", training=True,
          freq_mask_param=5, time_mask_param=4, n_freq_masks=1, n_time_masks=1, mask_value=0.0,
          input="ones (200, 14, 64, 1); stored as np.packbits(mask, axis=-1), True = masked")
    try:
        run(aug, spec, training=True)
    except Exception as exc:  # noqa: BLE001
        w.note("specaugment_stereo", f"SpecAugment on 2 channels fails: {type(exc).__name__}: "
                                     f"{str(exc).splitlines()[0][:300]}")
    w.add("channelswap_inference", run(kapre.ChannelSwap(), spec, training=False), layer="ChannelSwap", training=False,
          input="spec")
    w.save(out / "features.npz")

    # --- Frame, Energy, mu-law, TFLite layers, backend functions ---------------------------------------
    w = Writer(versions)
    x = inputs["paper"][:, :600]
    w.add("x", x.astype(np.float16), input="paper/x[:, :600]", stored="float16, exact")
    for fl, hop, pad_end, value in ((400, 160, False, 0.0), (256, 100, True, 0.5)):
        w.add(f"frame_{fl}_{hop}", run(kapre.Frame(frame_length=fl, hop_length=hop, pad_end=pad_end, pad_value=value), x),
              layer="Frame", frame_length=fl, hop_length=hop, pad_end=pad_end, pad_value=value, input="x")
    w.add("frame_channels_first", run(kapre.Frame(frame_length=300, hop_length=300, data_format="channels_first"),
                                      np.ascontiguousarray(x.transpose(0, 2, 1))),
          layer="Frame", frame_length=300, hop_length=300, data_format="channels_first", input="x as (b, ch, t)")
    xe = inputs["cd441"]
    w.add("energy_default", run(kapre.Energy(), xe), layer="Energy", input="cd441/x (spectrograms inputs)")
    w.add("energy_args", run(kapre.Energy(sample_rate=16000, ref_duration=0.05, frame_length=400, hop_length=160,
                                          pad_end=True), x),
          layer="Energy", sample_rate=16000, ref_duration=0.05, frame_length=400, hop_length=160, pad_end=True,
          input="x")
    loud = (x * 80.0).clip(-1.2, 1.2).astype(np.float16).astype(np.float32)
    w.add("mulaw_input", loud.astype(np.float16), input="clip(x * 80, -1.2, 1.2)", stored="float16, exact")
    for q in (256, 16):
        codes = run(kapre.MuLawEncoding(quantization_channels=q), loud)
        w.add(f"mulaw_{q}/codes", codes, layer="MuLawEncoding", quantization_channels=q, input="mulaw_input")
        w.add(f"mulaw_{q}/decoded", run(kapre.MuLawDecoding(quantization_channels=q), codes), layer="MuLawDecoding",
              quantization_channels=q, input=f"mulaw_{q}/codes")
    for name in ("paper", "speech"):
        kw = stft_args[name]
        try:
            spec = run(kapre.STFTTflite(**kw), inputs[name][:1])
        except Exception as exc:  # noqa: BLE001
            w.note(f"tflite_{name}", f"STFTTflite fails: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
            continue
        w.add(f"tflite_{name}/stft", spec, layer="STFTTflite", input=f"{name}/x[:1]", **kw)
        w.add(f"tflite_{name}/magnitude", run(kapre.MagnitudeTflite(), spec), layer="MagnitudeTflite")
        w.add(f"tflite_{name}/phase", run(kapre.PhaseTflite(approx_atan_accuracy=50), spec), layer="PhaseTflite",
              approx_atan_accuracy=50)
    from kapre import backend as kb

    for i, kw in enumerate([dict(sample_rate=16000, n_freq=257, n_mels=64),
                            dict(sample_rate=22050, n_freq=257, n_mels=40, f_min=50.0, f_max=8000.0, htk=True, norm=None),
                            dict(sample_rate=8000, n_freq=129, n_mels=24, norm=2)]):
        w.add(f"filterbank_mel_{i}", np.asarray(kb.filterbank_mel(**kw)), function="backend.filterbank_mel", **kw)
    for i, kw in enumerate([dict(sample_rate=22050, n_freq=257),
                            dict(sample_rate=16000, n_freq=257, n_bins=48, bins_per_octave=24, f_min=100.0, spread=0.5)]):
        w.add(f"filterbank_log_{i}", np.asarray(kb.filterbank_log(**kw)), function="backend.filterbank_log", **kw)
    ramp = np.geomspace(1e-9, 3.0, 50).astype(np.float32)
    w.add("db_input", ramp)
    w.add("db_1d", np.asarray(kb.magnitude_to_decibel(tf.constant(ramp), dynamic_range=60.0)),
          function="backend.magnitude_to_decibel", dynamic_range=60.0, input="db_input (1-D)")
    w.save(out / "signal.npz")
    total = sum(p.stat().st_size for p in out.glob("*.npz"))
    print(f"total {total / 1024:.1f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
