"""Pipeline faults that used to pass silently: a reader failing mid-file, logits metadata on a model
that already outputs probabilities, samples whose power overflows float32."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import soundfile as sf

from audiofront.errors import ConfigError, InputError, ModelFileError
from audiofront.runtime import Pipeline
from audiofront.runtime.audio import MAX_ABS_SAMPLE, as_audio_array, load_audio, prepare_audio

from tests.artifacts import CLIP_SAMPLES as CLIP
from tests.artifacts import LABELS, SAMPLE_RATE, _with_metadata
from tests.artifacts import pipeline_onnx, torch_parts  # noqa: F401  (fixtures: fast legacy exports)


@pytest.fixture(scope="module")
def onnx_pipeline(pipeline_onnx):  # noqa: F811
    with Pipeline.load(pipeline_onnx, backend="onnxruntime-cpu") as p:
        yield p


class _FailingReader(io.RawIOBase):
    """A binary file whose reads fail with an I/O error once ``fail_after`` bytes were read."""

    def __init__(self, data: bytes, fail_after: int):
        self._data, self._pos, self._fail_after = data, 0, fail_after

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = {0: offset, 1: self._pos + offset, 2: len(self._data) + offset}[whence]
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer) -> int:
        if self._pos >= self._fail_after:
            raise OSError(5, "Input/output error")
        n = min(len(buffer), len(self._data) - self._pos, self._fail_after - self._pos)
        buffer[:n] = self._data[self._pos:self._pos + n]
        self._pos += n
        return n


def _wav(seconds: float = 1.0, fmt: str = "WAV") -> bytes:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SAMPLE_RATE, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt, fail_after", [("WAV", 10_000), ("WAV", 44), ("FLAC", 5_000)])
def test_an_io_error_while_reading_is_raised_not_a_shorter_clip(fmt, fail_after):
    data = _wav(fmt=fmt)
    assert load_audio(_FailingReader(data, len(data) + 1))[0].shape == (1, SAMPLE_RATE)  # the reader itself works
    with pytest.raises(InputError, match="Input/output error") as info:
        load_audio(_FailingReader(data, fail_after))
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(InputError, match="Input/output error"):
        prepare_audio(_FailingReader(data, fail_after), None, target_rate=SAMPLE_RATE, clip_samples=CLIP)


def test_classify_reports_the_failed_read_instead_of_classifying_part_of_the_file(onnx_pipeline):
    data = _wav(2.0)
    good, bad = onnx_pipeline.classify([io.BytesIO(data), _FailingReader(data, 10_000)])
    assert good.ok and good.windows == onnx_pipeline.prepare(data).shape[0]
    assert not bad.ok and "Input/output error" in bad.error and bad.probabilities is None


def test_logits_metadata_on_a_model_that_outputs_probabilities_is_refused(torch_parts):  # noqa: F811
    frontend, classifier = torch_parts  # the classifier ends in softmax
    with pytest.raises(ConfigError, match="already sum to 1"):
        Pipeline.from_torch(frontend, classifier, labels=LABELS, clip_samples=CLIP, output="logits")
    with Pipeline.from_torch(frontend, classifier, labels=LABELS, clip_samples=CLIP, output="probabilities") as p:
        assert np.allclose(p.predict(np.zeros((2, CLIP), np.float32)).sum(axis=1), 1.0, atol=1e-5)
    # Real logits (the softmax taken off) still load as logits, and predict softmaxes them.
    logits = copy.deepcopy(classifier)
    logits.softmax = False
    with Pipeline.from_torch(frontend, logits, labels=LABELS, clip_samples=CLIP, output="logits") as p:
        windows = np.random.default_rng(0).standard_normal((2, CLIP)).astype(np.float32) * 0.1
        with Pipeline.from_torch(frontend, classifier, labels=LABELS, clip_samples=CLIP,
                                 output="probabilities") as q:
            np.testing.assert_allclose(p.predict(windows), q.predict(windows), rtol=1e-5, atol=1e-6)


def test_a_probability_onnx_labelled_logits_is_refused(pipeline_onnx, tmp_path):  # noqa: F811
    path = tmp_path / "labelled-logits.onnx"
    path.write_bytes(pipeline_onnx.read_bytes())  # its graph ends in Softmax
    _with_metadata(path, {"output": "logits"})
    with pytest.raises(ModelFileError, match="already sum to 1"):
        Pipeline.load(path, backend="onnxruntime-cpu")
    with Pipeline.load(pipeline_onnx, backend="onnxruntime-cpu") as p:  # labelled right, it loads
        assert p.output == "probabilities"


@pytest.mark.parametrize("peak", [MAX_ABS_SAMPLE * 1.01, 1e17, 1e30, -3.0e38])
def test_samples_beyond_the_float32_power_range_are_an_input_error(peak):
    audio = np.zeros((2, 1000), np.float32)
    audio[1, 500] = peak
    with pytest.raises(InputError, match=r"magnitude up to .*within ±1e\+15"):
        as_audio_array(audio)
    with pytest.raises(InputError, match="magnitude"):
        prepare_audio(audio, SAMPLE_RATE, target_rate=SAMPLE_RATE, clip_samples=CLIP)
    wav = io.BytesIO()
    sf.write(wav, audio.T, SAMPLE_RATE, format="WAV", subtype="FLOAT")
    with pytest.raises(InputError, match="magnitude"):
        load_audio(wav.getvalue())


@pytest.mark.parametrize("peak", [1.0, 32768.0, 1e6, 1e12, MAX_ABS_SAMPLE])
def test_loud_samples_within_the_range_classify_finitely(onnx_pipeline, peak):
    rng = np.random.default_rng(3)
    audio = (rng.standard_normal(CLIP + 17) * 0.1).astype(np.float32)
    audio[7] = peak
    (result,) = onnx_pipeline.classify([audio], sample_rate=SAMPLE_RATE)
    assert result.ok and np.isfinite(result.probabilities).all(), result.error
