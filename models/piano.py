"""The shipped piano-note model: 88 classes (A0..C8), mono audio at 16 kHz, one-second clips.

Front-end (rebuilt from the config stored beside the weights, so only the classifier's weights
ship): power STFT (n_fft 2048, hop 256, centred), a note-aligned filterbank
(:func:`audiofront.frontend.functional.note_filterbank`, also named :data:`piano_filterbank` here:
one triangle per FFT bin at the bottom, one per semitone above ~131 Hz), dB with an 80 dB floor,
per-item normalisation. Classifier: :class:`PianoClassifier`, the Kapre paper's convnet.

Example::

    >>> frontend, classifier, config = load_piano_model()
    >>> logits = classifier(frontend(torch.zeros(1, config["clip_samples"])))
    >>> logits.shape
    torch.Size([1, 88])
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from torch import nn

from audiofront.errors import ConfigError, ExportError, ModelFileError
from audiofront.frontend import AmplitudeToDB, Filterbank, FrontEnd, Normalize, Spectrogram
from audiofront.frontend.functional import note_filterbank
from audiofront.models.cache import WEIGHTS_DIR, WEIGHTS_NAME, cache_dir, cached_pipeline_path, weights_digest
from audiofront.models.cache import weights_paths as _paths
from audiofront.models.convnet import KapreConvNet
from audiofront.models.notes import PIANO_LABELS

__all__ = [
    "DEFAULT_CONFIG",
    "WEIGHTS_DIR",
    "piano_filterbank",
    "build_frontend",
    "PianoClassifier",
    "build_classifier",
    "load_piano_model",
    "weights_digest",
    "cache_dir",
    "pipeline_onnx",
    "load_pipeline",
    "export_pipeline",
]

DEFAULT_CONFIG: dict = {
    "name": "piano88",
    "sample_rate": 16000,
    "clip_samples": 16000,
    "n_fft": 2048,
    "hop_length": 256,
    "filterbank": {"f_min": 23.0, "f_max": 7600.0, "bins_per_octave": 12, "f_ref": 440.0},
    "top_db": 80.0,
    "normalize": "channel",
    "labels": PIANO_LABELS,
}


# The model's name for its filterbank; the math lives in the front-end's functional module.
piano_filterbank = note_filterbank


def build_frontend(config: dict | None = None) -> FrontEnd:
    """The front-end ``(batch, time) -> (batch, n_bins, frames)`` that ``config`` describes."""
    c = DEFAULT_CONFIG if config is None else config
    try:
        fb = note_filterbank(sample_rate=c["sample_rate"], n_fft=c["n_fft"], **c["filterbank"])
        return FrontEnd(
            Spectrogram(n_fft=c["n_fft"], hop_length=c["hop_length"], power=2.0),
            Filterbank(fb),
            AmplitudeToDB("power", top_db=c["top_db"]),
            Normalize(c["normalize"]),
            sample_rate=c["sample_rate"],
            name=c.get("name", "piano88"),
        )
    except KeyError as exc:
        raise ConfigError(f"piano model config lacks key {exc}") from None


class PianoClassifier(nn.Module):
    """:class:`KapreConvNet` over front-end features: ``(batch, bins, frames) -> (batch, n_classes)`` logits.

    ``softmax=True`` returns probabilities instead (what the exported pipeline outputs).

    Example::

        >>> PianoClassifier()(torch.randn(2, 84, 63)).shape
        torch.Size([2, 88])
    """

    def __init__(self, n_classes: int = 88, *, softmax: bool = False):
        super().__init__()
        self.net = KapreConvNet(n_classes=n_classes, softmax=softmax)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features.unsqueeze(1))


def build_classifier(config: dict | None = None) -> PianoClassifier:
    c = DEFAULT_CONFIG if config is None else config
    return PianoClassifier(len(c["labels"]))


def load_piano_model(weights_dir=None) -> tuple[FrontEnd, PianoClassifier, dict]:
    """``(frontend, classifier, config)`` of the shipped model (or the one in ``weights_dir``), in eval mode.

    ``config`` is the stored JSON: the front-end settings, ``labels``, and how it was trained.
    Raises :class:`ModelFileError` when the files are missing or do not match.
    """
    pt, js = _paths(weights_dir)
    try:
        meta = json.loads(js.read_text())
        config = meta["config"]
        state = torch.load(pt, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ModelFileError(f"piano model file missing: {exc.filename} (run `audiofront train` to make it)") from None
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelFileError(f"piano model files in {pt.parent} are unreadable: {type(exc).__name__}: {exc}") from None
    frontend = build_frontend(config)
    classifier = build_classifier(config)
    try:
        classifier.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelFileError(f"{pt} does not fit the classifier its config describes: {exc}") from None
    config = dict(config, training=meta.get("training", {}))
    return frontend.eval(), classifier.eval(), config


def _export_classifier(classifier: PianoClassifier, n_bins: int, frames: int, path: Path) -> Path:
    """The classifier alone, softmax included: features ``(batch, n_bins, frames)`` -> probabilities."""
    import logging
    import warnings

    probs = PianoClassifier(classifier.net.n_classes, softmax=True)
    probs.load_state_dict(classifier.state_dict())
    probs.eval()
    example = torch.randn(2, n_bins, frames, generator=torch.Generator().manual_seed(0))
    # The dynamo exporter logs recoverable steps loudly; nothing here is actionable for users.
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(probs, (example,), dynamo=True, input_names=["features"],
                                        output_names=["probabilities"],
                                        dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
                                        opset_version=18, optimize=True, verbose=False)
    except Exception as exc:
        raise ExportError(f"cannot export the piano classifier to {str(path)!r}: {type(exc).__name__}: {exc}") from exc
    finally:
        logger.setLevel(level)
    program.save(str(path))
    return path


def export_pipeline(frontend: FrontEnd, classifier: PianoClassifier, config: dict, path) -> Path:
    """Write the front-end + classifier as one ONNX pipeline (audio ``(batch, clip_samples)`` in,
    probabilities ``(batch, 88)`` out) with the contract's ``kind=pipeline`` metadata.

    The front-end goes through :func:`audiofront.export.export_onnx`, the classifier (softmax
    included) through ``torch.onnx.export``, and :func:`audiofront.export.prepend` joins them.
    """
    import tempfile

    from audiofront.export import export_onnx, prepend

    path = Path(path)
    clip = int(config["clip_samples"])
    with torch.no_grad():
        n_bins, frames = frontend(torch.zeros(1, clip)).shape[-2:]
    with tempfile.TemporaryDirectory(prefix="audiofront-piano-") as tmp:
        fe_path = export_onnx(copy.deepcopy(frontend).eval(), Path(tmp) / "frontend.onnx")
        cls_path = _export_classifier(classifier, int(n_bins), int(frames), Path(tmp) / "classifier.onnx")
        return prepend(fe_path, cls_path, path, layout="batch,bins,frames", labels=list(config["labels"]),
                       clip_samples=clip, output="probabilities", sample_rate=int(config["sample_rate"]))


def pipeline_onnx(path=None, *, weights_dir=None) -> Path:
    """The shipped model as one ONNX pipeline file; exported once into :func:`cache_dir` (keyed by
    :func:`weights_digest`) when ``path`` is None, else written to ``path``. Returns the path."""
    if path is None:
        target = cached_pipeline_path(weights_dir)
        if target.is_file():
            return target
    else:
        target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        where = "the cache folder (AUDIOFRONT_CACHE / XDG_CACHE_HOME)" if path is None else "the output folder"
        raise ConfigError(f"{where} {str(target.parent)!r} is not a folder: a file stands at that path or one "
                          f"above it; point it at a folder") from None
    frontend, classifier, config = load_piano_model(weights_dir)
    return export_pipeline(frontend, classifier, config, target)


def load_pipeline(backend: str = "auto", *, weights_dir=None, long_clips: str | None = None):
    """An ``audiofront.runtime.Pipeline`` over the shipped model: ONNX for ``auto`` and ONNX/TensorRT
    backends, the torch modules for ``torch-cpu`` / ``torch-cuda``. ``long_clips``: the Pipeline's."""
    from audiofront.runtime import Pipeline

    from audiofront.runtime.backends import get_backend, runs

    if backend != "auto" and runs(backend, "torch"):
        frontend, classifier, config = load_piano_model(weights_dir)
        return Pipeline.from_torch(frontend, classifier, labels=list(config["labels"]),
                                   sample_rate=int(config["sample_rate"]), clip_samples=int(config["clip_samples"]),
                                   output="logits", device=get_backend(backend).device,
                                   layout="batch,bins,frames", long_clips=long_clips)
    return Pipeline.load(pipeline_onnx(weights_dir=weights_dir), backend=backend, long_clips=long_clips)
