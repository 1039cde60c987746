"""Audio preparation: checks, files in several formats, channels, soxr resampling, windows and padding."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
import torch

from audiofront.errors import ConfigError, InputError
from audiofront.runtime.audio import (
    MAX_SAMPLE_RATE,
    as_audio_array,
    check_sample_rate,
    frame_windows,
    load_audio,
    prepare_audio,
    resample,
    select_channels,
    window_starts,
)


def sine(freq: float, rate: int, seconds: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    x = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.stack([x] * channels) if channels > 1 else x


def peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[np.argmax(spectrum)])


# ----- array checks -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "audio, words",
    [
        (np.zeros(0, np.float32), "empty"),
        (np.zeros((2, 0), np.float32), "empty"),
        (np.array([0.0, np.nan, 0.1], np.float32), "NaN"),
        (np.array([0.0, np.inf], np.float64), "NaN or infinite"),
        (np.zeros((1, 2, 100), np.float32), "(channels, time)"),
        (np.array(0.5, np.float32), "(channels, time)"),
        (np.zeros(10, np.complex64), "real float"),
        (np.zeros(10, bool), "real float"),
        (np.array([0.1, "a"], dtype=object), "real float"),
        (np.zeros(10, np.int16), "allow_int"),
        (np.zeros((48000, 2), np.float32), "transpose"),
        ([0.1, 0.2], "numpy array"),
        ("not audio", "numpy array"),
    ],
)
def test_bad_arrays_raise_input_error(audio, words):
    with pytest.raises(InputError, match=None) as info:
        as_audio_array(audio)
    assert words in str(info.value)


def test_complex_tensor_is_refused():
    with pytest.raises(InputError, match="complex"):
        as_audio_array(torch.zeros(10, dtype=torch.complex64))


@pytest.mark.parametrize(
    "dtype, full_scale", [(np.int16, 32768.0), (np.int32, 2.0**31), (np.int8, 128.0)]
)
def test_integer_pcm_scales_by_full_scale_when_allowed(dtype, full_scale):
    pcm = np.array([0, 1, -1, np.iinfo(dtype).max, np.iinfo(dtype).min], dtype=dtype)
    out = as_audio_array(pcm, allow_int=True)
    np.testing.assert_allclose(out[0], pcm.astype(np.float64) / full_scale, rtol=1e-7)
    assert out.dtype == np.float32


def test_int16_pcm_matches_what_soundfile_reads(tmp_path):
    pcm = (np.random.default_rng(0).integers(-32768, 32767, 1000)).astype(np.int16)
    sf.write(tmp_path / "a.wav", pcm, 8000, subtype="PCM_16")
    read, _ = sf.read(tmp_path / "a.wav", dtype="float32")
    np.testing.assert_array_equal(as_audio_array(pcm, allow_int=True)[0], read)


def test_uint8_pcm_is_centred():
    out = as_audio_array(np.array([0, 128, 255], np.uint8), allow_int=True)[0]
    np.testing.assert_allclose(out, [-1.0, 0.0, 127 / 128])


def test_float_inputs_become_float32_channels_first():
    x = np.random.default_rng(0).standard_normal((2, 50))
    out = as_audio_array(x)
    assert out.dtype == np.float32 and out.shape == (2, 50)
    assert as_audio_array(torch.from_numpy(x[0]).half()).shape == (1, 50)


@pytest.mark.parametrize("rate", [0, -16000, 999, MAX_SAMPLE_RATE + 1, 10**9, 16000.5, "16000", None, True, float("nan")])
def test_unsupported_sample_rates(rate):
    with pytest.raises(InputError, match="sample_rate"):
        check_sample_rate(rate)


def test_integral_float_sample_rate_is_accepted():
    assert check_sample_rate(44100.0) == 44100 and check_sample_rate(np.int64(8000)) == 8000


# ----- channels ---------------------------------------------------------------------------------
def test_mix_averages_channels_and_index_selects_one():
    x = np.stack([np.full(10, 0.2, np.float32), np.full(10, -0.6, np.float32)])
    np.testing.assert_allclose(select_channels(x, "mix"), np.full(10, -0.2), rtol=1e-6)
    np.testing.assert_array_equal(select_channels(x, 1), x[1])
    with pytest.raises(InputError, match="channel 2 .* 2 channel"):
        select_channels(x, 2)
    for bad in (-1, "left", 1.0, True):
        with pytest.raises(ConfigError, match="channels"):
            select_channels(x, bad)


# ----- files ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ext, fmt, subtype, tol",
    [("wav", "WAV", "FLOAT", 0.0), ("wav", "WAV", "PCM_16", 1 / 32768), ("flac", "FLAC", "PCM_24", 1e-6),
     ("ogg", "OGG", "VORBIS", None), ("mp3", "MP3", "MPEG_LAYER_III", None)],
)
def test_files_of_several_formats_load_channels_first(tmp_path, ext, fmt, subtype, tol):
    rate = 22050
    stereo = np.stack([sine(440, rate, 0.5), sine(1000, rate, 0.5)], axis=1)  # soundfile: (frames, channels)
    path = tmp_path / f"clip.{ext}"
    sf.write(path, stereo, rate, format=fmt, subtype=subtype)
    audio, got_rate = load_audio(path)
    assert got_rate == rate and audio.dtype == np.float32 and audio.shape[0] == 2
    if tol is not None:
        assert audio.shape[1] == stereo.shape[0]
        np.testing.assert_allclose(audio.T, stereo, atol=tol + 1e-7)
    else:  # lossy codecs: the tones survive, each in its own channel
        assert abs(audio.shape[1] - stereo.shape[0]) < rate // 10
        assert abs(peak_hz(audio[0], rate) - 440) < 5 and abs(peak_hz(audio[1], rate) - 1000) < 5


def test_bytes_and_file_objects_load(tmp_path):
    buf = io.BytesIO()
    sf.write(buf, sine(440, 8000, 0.25), 8000, format="FLAC")
    audio, rate = load_audio(buf.getvalue())
    assert rate == 8000 and audio.shape == (1, 2000)
    buf.seek(0)
    assert load_audio(buf)[0].shape == (1, 2000)


def test_missing_corrupt_truncated_and_empty_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(InputError, match="not a file"):
        load_audio(tmp_path)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(200)))
    with pytest.raises(InputError, match="cannot read audio file"):
        load_audio(junk)
    with pytest.raises(InputError, match="cannot read audio file"):
        load_audio(b"definitely not audio")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(InputError, match="empty"):
        load_audio(empty)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.0, np.nan, 0.0], np.float32), 16000, subtype="FLOAT")
    with pytest.raises(InputError, match="NaN"):
        load_audio(nan)


# ----- resampling -------------------------------------------------------------------------------
@pytest.mark.parametrize("orig, target, freq", [(44100, 16000, 1000.0), (8000, 32000, 440.0), (48000, 22050, 3000.0)])
def test_resampling_keeps_frequency_and_duration(orig, target, freq):
    y = resample(sine(freq, orig, 1.0), orig, target)
    assert y.dtype == np.float32
    assert abs(y.size - target) <= 1
    assert abs(peak_hz(y, target) - freq) <= 1.0  # 1 s of signal: 1 Hz bins
    # amplitude kept in the pass band (Hann-windowed peak would blur it; use RMS of the middle)
    mid = y[y.size // 4: -y.size // 4]
    np.testing.assert_allclose(np.sqrt(np.mean(mid.astype(np.float64) ** 2)), 0.5 / np.sqrt(2), rtol=0.01)


def test_resampling_to_the_same_rate_is_identity():
    x = sine(440, 16000, 0.1)
    np.testing.assert_array_equal(resample(x, 16000, 16000), x)


# ----- windows and padding ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "length, clip, hop, starts",
    [(10, 10, None, [0]), (3, 10, None, [0]), (20, 10, None, [0, 5, 10]), (21, 10, None, [0, 5, 10, 11]),
     (25, 10, 10, [0, 10, 15]), (11, 10, 3, [0, 1])],
)
def test_window_starts(length, clip, hop, starts):
    assert window_starts(length, clip, hop) == starts


def test_short_clips_are_zero_padded_and_long_ones_windowed():
    x = np.arange(1, 8, dtype=np.float32)
    out = frame_windows(x, 10)
    assert out.shape == (1, 10)
    np.testing.assert_array_equal(out[0], np.r_[x, np.zeros(3, np.float32)])
    x = np.arange(100, dtype=np.float32)
    out = frame_windows(x, 40, hop=25)
    starts = window_starts(100, 40, 25)
    assert out.shape == (len(starts), 40) == (4, 40)
    for row, s in zip(out, starts):
        np.testing.assert_array_equal(row, x[s: s + 40])
    assert out[-1, -1] == 99  # the last window ends with the clip


def test_bad_hop_and_clip():
    with pytest.raises(ConfigError, match="hop"):
        window_starts(100, 10, 11)
    with pytest.raises(ConfigError, match="hop"):
        window_starts(100, 10, 0)
    with pytest.raises(ConfigError, match="clip_samples"):
        frame_windows(np.zeros(5, np.float32), 0)


def test_prepare_audio_resamples_mixes_and_windows(tmp_path):
    rate, target, clip = 44100, 16000, 4000
    stereo = sine(1000, rate, 1.0, channels=2)
    windows = prepare_audio(stereo, rate, target_rate=target, clip_samples=clip)
    starts = window_starts(target, clip, None)
    assert windows.shape == (len(starts), clip)
    for row in windows:
        assert abs(peak_hz(row, target) - 1000) <= target / clip
    # the same sound from a file (its own rate wins) gives the same windows
    sf.write(tmp_path / "s.wav", stereo.T, rate, subtype="FLOAT")
    np.testing.assert_allclose(prepare_audio(tmp_path / "s.wav", None, target_rate=target, clip_samples=clip),
                               windows, atol=1e-6)
    # an array without a rate is taken to be at the target rate already
    mono = sine(500, target, 0.1)
    np.testing.assert_array_equal(prepare_audio(mono, None, target_rate=target, clip_samples=clip)[0, : mono.size], mono)


def test_prepare_audio_refuses_audio_that_resamples_to_nothing():
    with pytest.raises(InputError, match="empty once resampled"):
        prepare_audio(np.zeros(1, np.float32), 48000, target_rate=1000, clip_samples=100)


@pytest.mark.parametrize("seconds, limit, too_long", [(2.0, 1.5, True), (1.0, 1.5, False), (1.5, 1.5, False)])
def test_load_audio_refuses_a_long_file_from_its_header(tmp_path, seconds, limit, too_long):
    import io

    import soundfile as sf

    from audiofront.errors import InputTooLong
    from audiofront.runtime.audio import load_audio

    rate = 8000
    tone = (0.3 * np.sin(np.arange(int(seconds * rate)) * 0.2)).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, tone, rate, format="FLAC")
    for source in (buffer.getvalue(), io.BytesIO(buffer.getvalue())):
        if too_long:
            with pytest.raises(InputTooLong, match=f"{seconds:.2f} s exceeds the limit of {limit:g} s"):
                load_audio(source, max_seconds=limit)
        else:
            audio, got_rate = load_audio(source, max_seconds=limit)
            assert got_rate == rate and audio.shape == (1, tone.size)
            np.testing.assert_allclose(audio[0], tone, atol=1e-4)  # FLAC is 16-bit here


def test_load_audio_narrower_rate_bounds_name_them(tmp_path):
    import soundfile as sf

    from audiofront.runtime.audio import load_audio

    path = tmp_path / "low.wav"
    sf.write(str(path), np.zeros(400, np.float32), 4000)
    assert load_audio(path)[1] == 4000
    with pytest.raises(InputError, match=r"4000 Hz is not supported: it must be in \[8000, 384000\]"):
        load_audio(path, min_rate=8000, max_rate=384000)
