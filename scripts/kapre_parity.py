"""Print how far audiofront is from the real Kapre 0.4.1 on the stored references (docs/kapre.md's figures).

    .venv/bin/python scripts/kapre_parity.py            # torch and onnxruntime, markdown table

Reads tests/frontend/kapre_reference/*.npz (written by scripts/kapre_reference.py); needs no
TensorFlow. For each Kapre call: the largest relative L2 error over the stored settings (mono and
stereo), in torch and, for the composed helpers, on onnxruntime; then what the native defaults
(librosa/torchaudio conventions) would give instead, in dB.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore")

from audiofront.frontend import AmplitudeToDB, MelSpectrogram, Spectrogram, kapre  # noqa: E402
from tests.frontend.kapre_refs import kapre_kwargs, load, rel_l2  # noqa: E402

T = torch.from_numpy


def _ort(module, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        # Static shapes: dynamic axes cost minutes of export here (tests/frontend/test_kapre_onnx.py has one).
        torch.onnx.export(module.eval(), (torch.from_numpy(x),), dynamo=True, opset_version=18,
                          verbose=False).save(str(path))
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})[0]


def _other_layers(add) -> None:
    """torch only; onnxruntime for these is in tests/frontend/test_kapre_onnx.py (same 1e-5 bar)."""
    stft_a, stft_m = load("stft")
    spec_a, spec_m = load("spectrograms")
    istft_a, istft_m = load("istft")
    feat_a, feat_m = load("features")
    sig_a, sig_m = load("signal")
    paper = T(stft_a["paper/stft"])
    add("Magnitude", rel_l2(kapre.Magnitude()(paper), stft_a["paper/magnitude"]))
    add("Phase", rel_l2(kapre.Phase()(paper), stft_a["paper/phase"]))
    add("Phase(approx_atan_accuracy=20)", rel_l2(kapre.Phase(approx_atan_accuracy=20)(paper), stft_a["paper/phase_approx20"]))
    add("MagnitudeToDecibel(0.5, 1e-3, 50)", rel_l2(kapre.MagnitudeToDecibel(0.5, 1e-3, 50.0)(T(stft_a["paper/magnitude"])),
                                                   stft_a["paper/magnitude_to_db_args"]))
    for name in ("paper", "speech", "cd441", "kbd"):
        kw = kapre_kwargs(istft_m, f"{name}/istft")
        add("InverseSTFT", rel_l2(kapre.InverseSTFT(**kw)(T(stft_a[f"{name}/stft"])), istft_a[f"{name}/istft"]))
    for n_fft, hop in ((512, 128), (400, 100)):
        stft, istft = kapre.get_perfectly_reconstructing_stft_istft(**kapre_kwargs(istft_m, f"pr_{n_fft}_{hop}/y"))
        add("get_perfectly_reconstructing_stft_istft", rel_l2(istft(stft(T(stft_a["paper/x"][:, :2000]))),
                                                              istft_a[f"pr_{n_fft}_{hop}/y"]))
    mp = kapre.get_stft_mag_phase(**kapre_kwargs(spec_m, "speech/mag_phase"))(T(stft_a["speech/x"]))
    add("get_stft_mag_phase (magnitude half)", rel_l2(mp[..., :2], spec_a["speech/mag_phase"][..., :2]))
    spec = T(feat_a["spec"])
    for key in [k for k in feat_a if k.startswith("delta_")]:
        add("Delta", rel_l2(kapre.Delta(**kapre_kwargs(feat_m, key))(spec), feat_a[key]))
    add("ConcatenateFrequencyMap", rel_l2(kapre.ConcatenateFrequencyMap()(spec), feat_a["freq_map"]))
    for n in (20, 13):
        add("LogmelToMFCC", rel_l2(kapre.LogmelToMFCC(n_mfccs=n)(spec), feat_a[f"mfcc_{n}"]))
    conv = kapre.get_frequency_aware_conv2d("channels_last", "fa", in_channels=2, filters=4, kernel_size=(3, 3),
                                            padding="same")
    conv.load_keras_weights(feat_a["faconv/kernel"], feat_a["faconv/bias"])
    with torch.no_grad():
        add("get_frequency_aware_conv2d", rel_l2(conv(spec), feat_a["faconv/y"]))
    x = T(sig_a["x"])
    for key in ("frame_400_160", "frame_256_100"):
        add("Frame", rel_l2(kapre.Frame(**kapre_kwargs(sig_m, key))(x), sig_a[key]))
    add("Energy", rel_l2(kapre.Energy()(T(stft_a["cd441/x"])), sig_a["energy_default"]))
    add("Energy", rel_l2(kapre.Energy(**kapre_kwargs(sig_m, "energy_args"))(x), sig_a["energy_args"]))
    for q in (256, 16):
        codes = kapre.MuLawEncoding(q)(T(sig_a["mulaw_input"])).numpy()
        add("MuLawEncoding (codes differing)", float(np.mean(codes != sig_a[f"mulaw_{q}/codes"])))
        add("MuLawDecoding", rel_l2(kapre.MuLawDecoding(q)(T(sig_a[f"mulaw_{q}/codes"])), sig_a[f"mulaw_{q}/decoded"]))
    for name in ("tflite_paper", "tflite_speech"):
        xs = T(stft_a[f"{name.removeprefix('tflite_')}/x"][:1])
        add("STFTTflite", rel_l2(kapre.STFTTflite(**kapre_kwargs(sig_m, f"{name}/stft"))(xs), sig_a[f"{name}/stft"]))
        add("PhaseTflite(approx_atan_accuracy=50)", rel_l2(kapre.PhaseTflite(approx_atan_accuracy=50)(
            T(sig_a[f"{name}/stft"])), sig_a[f"{name}/phase"]))
    for key in [k for k in sig_a if k.startswith("filterbank_")]:
        fn = kapre.backend.filterbank_mel if "mel" in key else kapre.backend.filterbank_log
        add(f"backend.{fn.__name__}", rel_l2(fn(**kapre_kwargs(sig_m, key)), sig_a[key]))


def main() -> int:
    stft_a, stft_m = load("stft")
    spec_a, spec_m = load("spectrograms")
    rows: dict[str, list[float]] = {}
    ort_rows: dict[str, list[float]] = {}

    def add(name, value, table=rows):
        table.setdefault(name, []).append(value)

    for name in ("paper", "speech", "cd441", "defaults", "kaiser", "kbd"):
        x = T(stft_a[f"{name}/x"])
        add("STFT", rel_l2(kapre.STFT(**kapre_kwargs(stft_m, f"{name}/stft"))(x), stft_a[f"{name}/stft"]))
        layer = kapre.get_stft_magnitude_layer(**kapre_kwargs(stft_m, f"{name}/stft_db"))
        add("get_stft_magnitude_layer(return_decibel=True)", rel_l2(layer(x), stft_a[f"{name}/stft_db"]))
        add("get_stft_magnitude_layer(return_decibel=True)", rel_l2(layer(x[..., :1]), stft_a[f"{name}/stft_db_mono"]))
        if name in ("cd441",):
            add("get_stft_magnitude_layer(return_decibel=True)",
                rel_l2(_ort(layer, stft_a[f"{name}/x"]), stft_a[f"{name}/stft_db"]), ort_rows)
    for key in ("mel_paper", "mel_speech", "mel_cd441", "mel_defaults", "log_defaults", "log_cd441"):
        get = kapre.get_melspectrogram_layer if key.startswith("mel") else kapre.get_log_frequency_spectrogram_layer
        label = get.__name__ + "(return_decibel=True)"
        x_name = spec_m["entries"][f"{key}/db"]["input"].split("/")[0]
        layer = get(**kapre_kwargs(spec_m, f"{key}/db"))
        add(label, rel_l2(layer(T(stft_a[f"{x_name}/x"])), spec_a[f"{key}/db"]))
        add(label, rel_l2(layer(T(stft_a[f"{x_name}/x"])[..., :1]), spec_a[f"{key}/db_mono"]))
        if key in ("mel_paper", "log_cd441"):
            add(label, rel_l2(_ort(layer, stft_a[f"{x_name}/x"]), spec_a[f"{key}/db"]), ort_rows)
    _other_layers(add)

    print("| Kapre call | settings | max relative L2, torch | max relative L2, onnxruntime |")
    print("|---|---|---|---|")
    for name, values in rows.items():
        ort_text = f"{max(ort_rows[name]):.1e}" if name in ort_rows else "—"
        print(f"| `{name}` | {len(values)} | {max(values):.1e} | {ort_text} |")

    # What the native modules with their own defaults give against Kapre (paper geometry, mono, 16 kHz).
    x = T(stft_a["paper/x"][..., 0])
    ref_stft = stft_a["paper/stft_db_mono"][..., 0].transpose(0, 2, 1)
    ref_mel = spec_a["mel_paper/db_mono"][..., 0].transpose(0, 2, 1)
    native_stft = torch.nn.Sequential(Spectrogram(n_fft=512, hop_length=256), AmplitudeToDB("power", top_db=80.0))(x)
    native_mel = torch.nn.Sequential(MelSpectrogram(sample_rate=16000, n_fft=512, hop_length=256, n_mels=64),
                                     AmplitudeToDB("power", top_db=80.0))(x)
    # Centred frames have one frame per hop from 0; Kapre's first frame is the native frame 1.
    n = ref_stft.shape[-1]
    print()
    print("| native chain (own defaults) vs Kapre, paper geometry, mono | max abs dB difference | median |")
    print("|---|---|---|")
    for label, ours, ref in (("Spectrogram(512, 256) + AmplitudeToDB(top_db=80)", native_stft, ref_stft),
                             ("MelSpectrogram(16 kHz, 512, 256, 64 mels) + AmplitudeToDB(top_db=80)", native_mel, ref_mel)):
        diff = np.abs(ours[..., 1 : n + 1].numpy() - ref)
        print(f"| `{label}` | {diff.max():.1f} | {np.median(diff):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
