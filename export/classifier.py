"""The classifier side of the contract: front-end + layout + classifier in torch, and the classifier exporter.

- :class:`FrontEndClassifier`: ``classifier(rearrange(frontend(audio)))`` as one ``nn.Module``,
  the rearrangement being the contract's layout (:data:`~audiofront.export.metadata.FEATURE_LAYOUTS`),
  the same one :func:`~audiofront.export.prepend` inserts into an ONNX graph. The runtime's
  ``Pipeline.from_torch``, the benchmarks and the training experiment compose through it.
- :func:`export_classifier`: a classifier (a torch module, or an ONNX file from elsewhere) as an
  ONNX file with ``audiofront.kind=classifier`` metadata taken from the front-end it sits behind:
  checked against that front-end's feature shape and, for a module, against torch; written
  atomically after ``onnx.checker``. The Triton ensemble (front-end and classifier as two models)
  and :func:`~audiofront.export.prepend` read that metadata.

Example::

    >>> cnn = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(3))
    >>> path = export_classifier(cnn, tmp_path / "cls.onnx", frontend=frontend_onnx, labels=["a", "b", "c"])
    >>> read_metadata(path)["audiofront.kind"], read_metadata(path)["audiofront.feature_layout"]
    ('classifier', 'batch,1,bins,frames')
"""

from __future__ import annotations

import dataclasses

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from audiofront import __version__
from audiofront.errors import ConfigError, ExportError
from audiofront.export.metadata import (
    FEATURE_LAYOUTS,
    OUTPUT_KINDS,
    canonical_layout,
    chain_frames_formula,
    check_metadata,
    clip_for_frames,
    eval_frames,
    layout_plan,
    layout_shape,
    read_metadata,
    write_metadata,
)

__all__ = ["FrontEndClassifier", "export_classifier"]

_SOURCES = {3: "batch,bins,frames", 4: "batch,channels,bins,frames"}


class FrontEndClassifier(nn.Module):
    """``frontend`` then ``classifier`` as one module: ``(batch, time) -> (batch, n_classes)``.

    ``layout`` is what the classifier takes, in the contract's words: ``"batch,1,bins,frames"``
    (an image-like CNN such as :class:`~audiofront.models.KapreConvNet`: a channel axis is
    inserted), ``"batch,bins,frames"`` (features as they come), ``"batch,frames,bins"`` (time
    first), ``"NHWC"``... (:func:`~audiofront.export.metadata.canonical_layout`).

    Example::

        >>> from audiofront.frontend import MelSpectrogram
        >>> from audiofront.models import KapreConvNet
        >>> model = FrontEndClassifier(MelSpectrogram(16000, n_fft=512, hop_length=256, n_mels=96),
        ...                            KapreConvNet(n_classes=10))
        >>> model(torch.randn(2, 16000)).shape
        torch.Size([2, 10])
    """

    def __init__(self, frontend: nn.Module, classifier: nn.Module, layout: str = "batch,1,bins,frames"):
        super().__init__()
        layout = canonical_layout(layout)
        if layout not in FEATURE_LAYOUTS:
            raise ConfigError(f"layout must be one of {list(FEATURE_LAYOUTS)}, got {layout!r}")
        self.frontend = frontend
        self.classifier = classifier
        self.layout = layout
        self.sample_rate = getattr(frontend, "sample_rate", None)

    def rearrange(self, features: torch.Tensor) -> torch.Tensor:
        """Front-end features ``(batch, bins, frames)`` -> the classifier's layout."""
        if features.ndim != 3:
            raise ConfigError(f"the front-end must give (batch, bins, frames) features, got shape {tuple(features.shape)}")
        perm, axes = layout_plan(_SOURCES[3].split(","), self.layout)
        if perm != list(range(len(perm))):
            features = features.permute(*perm)
        for axis in axes:
            features = features.unsqueeze(axis)
        return features

    def input_spec(self):
        """The front-end's audio spec, its minimum length raised to what gives the classifier its
        fewest frames (``classifier.MIN_FRAMES``, where it says; :class:`KapreConvNet` does)."""
        from audiofront.frontend.inputs import input_spec

        found = input_spec(self.frontend, rank=2)
        if found is None:
            raise ConfigError(f"{type(self.frontend).__name__} declares no input_spec(): FrontEndClassifier cannot say what it takes")
        spec = found[0]
        need = getattr(self.classifier, "MIN_FRAMES", None)
        if need is None:
            return spec
        # The frames law export stores, inverted: the fewest samples that give ``need`` frames.
        fewest = clip_for_frames(chain_frames_formula(self.frontend), need)
        return dataclasses.replace(spec, min_length=max(spec.min_length, fewest))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.rearrange(self.frontend(audio)))


def _frontend_facts(frontend) -> dict:
    meta = frontend if isinstance(frontend, dict) else read_metadata(frontend)
    source = "front-end metadata" if isinstance(frontend, dict) else f"front-end {str(frontend)!r}"
    info = check_metadata(meta, kind="frontend", source=source)
    if info["output_layout"] != _SOURCES[3]:
        raise ConfigError(f"{source} gives {info['output_layout']} features; export_classifier takes a "
                          "(batch, bins, frames) front-end")
    return info


def _check_module_output(got: np.ndarray, want: np.ndarray, where: str) -> None:
    scale = max(float(np.abs(want).max()), 1e-6)
    diff = float(np.abs(got.astype(np.float64) - want).max())
    if diff > 1e-4 * scale + 1e-5:
        raise ExportError(f"{where}: ONNX Runtime and torch disagree by {diff:.3g} (outputs up to {scale:.3g})")


def export_classifier(
    classifier,
    out: str | os.PathLike,
    *,
    frontend,
    labels: Sequence[str],
    layout: str = "batch,1,bins,frames",
    clip_samples: int | None = None,
    output: str | None = None,
    opset: int = 18,
) -> Path:
    """Write ``classifier`` as an ONNX file with ``kind=classifier`` metadata; returns the path.

    ``classifier``: an ``nn.Module`` taking features in ``layout`` (exported with the dynamo
    exporter, batch dynamic, input ``features``), or an ONNX file/``ModelProto`` (checked and
    stamped). ``frontend``: the front-end ONNX it sits behind (or that file's metadata dict),
    which gives the sample rate, bins and frames law. ``clip_samples`` (default: one second)
    fixes the frames it is checked and traced at. ``output``: ``"logits"`` or ``"probabilities"``
    (default: probabilities when every output row sums to one on the check input, else logits).

    Shapes: features ``layout`` (e.g. ``(batch, 1, bins, frames)``) -> ``(batch, len(labels))``.

    Raises :class:`ConfigError` for bad arguments, :class:`ModelFileError` for an unreadable file,
    :class:`ExportError` when the classifier does not take the features or give one score per label.
    """
    from audiofront.export.artifacts import check_and_save, load_onnx
    from audiofront.export.session import make_session

    info = _frontend_facts(frontend)
    layout = canonical_layout(layout)
    if layout not in FEATURE_LAYOUTS:
        raise ConfigError(f"layout must be one of {list(FEATURE_LAYOUTS)}, got {layout!r}")
    if isinstance(labels, str) or not labels or not all(isinstance(x, str) for x in labels) or len(set(labels)) != len(labels):
        raise ConfigError("labels must be a non-empty sequence of distinct strings")
    rate = info["sample_rate"]
    clip = rate if clip_samples is None else clip_samples
    if isinstance(clip, bool) or not isinstance(clip, int) or clip < 1:
        raise ConfigError(f"clip_samples must be a positive integer, got {clip_samples!r}")
    if output is not None and output not in OUTPUT_KINDS:
        raise ConfigError(f"output must be one of {list(OUTPUT_KINDS)}, got {output!r}")
    frames = eval_frames(info["frames"], clip)
    if frames < 1:
        raise ConfigError(f"clip_samples={clip} gives no frame (frames = {info['frames']})")
    shape = layout_shape(_SOURCES[3].split(","), [2, info["n_bins"], frames], layout)
    example = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    out = Path(out)
    where = f"classifier for {out.name!r}"

    if isinstance(classifier, nn.Module):
        was_training = classifier.training
        classifier.eval()
        try:
            with torch.no_grad():
                want = classifier(example)
            if not isinstance(want, torch.Tensor):
                raise ExportError(f"{where} must return one tensor (batch, classes), returned {type(want).__name__}")
            want = want.numpy().astype(np.float64)
            try:
                program = torch.onnx.export(
                    classifier, (example,), dynamo=True, input_names=["features"],
                    output_names=[output or "scores"], dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
                    opset_version=opset, optimize=True, verbose=False,
                )
            except Exception as exc:
                raise ExportError(f"cannot export {where}: {type(exc).__name__}: {exc}") from exc
        finally:
            classifier.train(was_training)
        model = program.model_proto
    else:
        model, want = load_onnx(classifier, what="classifier"), None
    session = make_session(model.SerializeToString())
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ExportError(f"{where} must take one input (the features), takes {[i.name for i in inputs]}")
    try:
        got = session.run(None, {inputs[0].name: example.numpy()})[0]
    except Exception as exc:
        raise ExportError(f"{where} does not take features of shape {tuple(shape)} ({layout}): {exc}") from None
    if got.shape != (2, len(labels)):
        raise ExportError(f"{where} gives shape {got.shape} for features {tuple(shape)}; one score per label "
                          f"means (2, {len(labels)})")
    if want is not None:
        _check_module_output(got, want, where)
    if output is None:
        output = "probabilities" if got.min() >= 0 and np.allclose(got.sum(axis=-1), 1.0, atol=1e-4) else "logits"
    facts = {name: info[name] for name in ("sample_rate", "n_fft", "hop_length", "center", "n_mels", "n_bins", "frames")
             if name in info}
    write_metadata(model, {
        **facts, "version": __version__, "kind": "classifier", "feature_layout": layout, "labels": list(labels),
        "clip_samples": clip, "output": output, "output_layout": "batch,classes",
    }, replace=True)
    return check_and_save(model, out, what=where)
