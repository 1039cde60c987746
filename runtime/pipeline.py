"""``Pipeline``: raw audio in, labels and probabilities out, on whichever backend runs best here.

A pipeline is one model that takes audio windows ``(batch, clip_samples)`` at ``sample_rate``
and gives one score per label: a prepended ``.onnx`` with ``audiofront.*`` metadata (kind
``pipeline``), a TensorRT ``.engine`` with its ``.engine.json`` sidecar, or a torch front-end
and classifier (:meth:`Pipeline.from_torch`). Around the model it reads files, mixes or
selects channels, resamples (soxr) (:mod:`audiofront.runtime.audio`), fits each clip to the
model (:mod:`audiofront.runtime.lengths`), runs windows in batches of at most
``max_batch_size``, turns logits into probabilities (softmax) when the model gives logits, and
averages the window probabilities of each clip.

Fitting a clip: a reference preset's pipeline (``audiofront export --preset ast --classifier
ast.onnx``), whose graph pads or trims to its fixed length itself (metadata ``fixed_frames`` /
``fixed_samples``, dynamic time axis), gets a short clip at its own length, so it is padded as
the model's extractor pads it (AST: fbank frames; CLAP: repeated), and a long clip's first
``clip_samples`` only, as the extractor keeps (``long_clips="truncate"``). Any other pipeline
gets short clips zero-padded in samples to ``clip_samples`` (all a fixed-length graph can take)
and long clips cut into overlapping windows whose probabilities are averaged
(``long_clips="windows"``). ``long_clips`` overrides either default.

The backend comes from the registry (:mod:`audiofront.runtime.backends`); this module knows
none by name. It imports no torch: only :meth:`Pipeline.from_torch` and the torch backends do.

Example::

    >>> with Pipeline.load("piano.onnx") as p:             # backend="auto"
    ...     print(p.backend, "-", p.backend_reason)
    ...     for c in p.classify(["a.wav", "b.flac"], top_k=3):
    ...         print(c.source, c.error or c.top)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from audiofront.errors import AudiofrontError, BackendUnavailable, ConfigError, InputError, ModelFileError
from audiofront.export.metadata import FEATURE_LAYOUTS, OUTPUT_KINDS
from audiofront.runtime.artifact import PipelineInfo, check_model_io, pipeline_info, read_pipeline_metadata
from audiofront.runtime.audio import check_channels, check_sample_range, check_sample_rate, is_torch_tensor, prepare_mono
from audiofront.runtime.backends import auto_order, choose_backend, get_backend
from audiofront.runtime.lengths import LONG_CLIPS, check_long_clips, group_by_width, length_policy
from audiofront.runtime.runner import Runner, RunnerError, TensorSpec

__all__ = ["Pipeline", "Classification", "FEATURE_LAYOUTS", "LONG_CLIPS"]


@dataclass
class Classification:
    """One item's result: ``top`` holds the ``top_k`` ``(label, probability)`` pairs, best first;
    ``probabilities`` all classes ``(n_classes,)`` averaged over the item's ``windows``;
    ``truncated`` is True when the clip was longer than ``clip_samples`` and only its first
    ``clip_samples`` were classified (``long_clips="truncate"``). When the item failed, ``error``
    says why and ``top``/``probabilities`` are empty/None."""

    source: str
    top: list[tuple[str, float]] = field(default_factory=list)
    probabilities: np.ndarray | None = None
    error: str | None = None
    windows: int = 0
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def label(self) -> str | None:
        """The best label, or None for a failed item."""
        return self.top[0][0] if self.top else None

    def to_dict(self) -> dict:
        """Plain JSON-ready dict."""
        return {
            "source": self.source,
            "top": [{"label": k, "probability": p} for k, p in self.top],
            "probabilities": None if self.probabilities is None else [float(v) for v in self.probabilities],
            "error": self.error,
            "windows": self.windows,
            "truncated": self.truncated,
        }


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.float64)
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z.astype(np.float32)


def _is_single(items) -> bool:
    return isinstance(items, (str, os.PathLike, bytes, bytearray, np.ndarray)) or is_torch_tensor(items) or hasattr(items, "read")


def _describe(item, index: int) -> str:
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    if isinstance(item, (bytes, bytearray)):
        return f"item {index} ({len(item)} bytes)"
    name = getattr(item, "name", None)
    if hasattr(item, "read") and isinstance(name, str):
        return name
    return f"item {index}"


def _check_positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class Pipeline:
    """Audio classifier over one backend. Build it with :meth:`load` or :meth:`from_torch`.

    Attributes: ``backend`` (``"tensorrt"``, ``"onnxruntime-cuda"``, ``"torch-cuda"``,
    ``"onnxruntime-cpu"``, ``"torch-cpu"``, or ``"onnxruntime-tensorrt"``), ``backend_reason``,
    ``sample_rate``, ``clip_samples``, ``labels``, ``n_classes``, ``output`` (what the model
    gives), ``source``, ``metadata``, ``runner``, ``lengths`` (the
    :class:`~audiofront.runtime.lengths.LengthPolicy`: ``lengths.fixes_own_length`` when the graph
    pads short clips itself, ``lengths.min_samples``). Options: ``channels`` (``"mix"`` or an
    index), ``hop`` (window hop in samples, default ``clip_samples // 2``), ``long_clips``
    (``"windows"``: average overlapping windows; ``"truncate"``: the first ``clip_samples`` only;
    ``None``: ``"truncate"`` where the graph fixes its own length like its extractor, else
    ``"windows"``; see the module doc), ``allow_int`` (accept integer PCM arrays),
    ``max_batch_size`` (windows per backend call). ``check=True`` runs one window at
    construction to verify the model gives what its metadata says.

    ``predict``/``classify`` may be called from several threads.
    """

    def __init__(
        self,
        runner: Runner,
        info: PipelineInfo,
        *,
        backend: str,
        backend_reason: str,
        source: str,
        channels: str | int = "mix",
        hop: int | None = None,
        long_clips: str | None = None,
        allow_int: bool = False,
        max_batch_size: int = 32,
        check: bool = True,
    ):
        self.channels = check_channels(channels)
        check_long_clips(long_clips)
        if hop is not None:
            _check_positive("hop", hop)
            if hop > info.clip_samples:
                raise ConfigError(f"hop must be in [1, clip_samples = {info.clip_samples}], got {hop}")
        self.hop = hop
        self.allow_int = bool(allow_int)
        self.max_batch_size = _check_positive("max_batch_size", max_batch_size)
        self.sample_rate = info.sample_rate
        self.clip_samples = info.clip_samples
        self.labels = list(info.labels)
        self.n_classes = len(self.labels)
        self.output = info.output
        self.input_layout = info.input_layout
        self.metadata = dict(info.metadata)
        self.backend = backend
        self.backend_reason = backend_reason
        self.source = source
        self.runner = runner
        runner.activate()
        try:
            self.input_name, self.output_name = check_model_io(runner.input_specs, runner.output_specs, info, source)
            audio_spec = runner.input_specs[0]
            self._fixed_batch = audio_spec.static_dim(0) if audio_spec.rank else None
            # A TensorRT engine takes the time its optimisation profile allows, whatever the graph could.
            profile = getattr(runner, "profile_shapes", {}).get(self.input_name)
            self.lengths = length_policy(
                self.metadata, self.clip_samples, long_clips=long_clips,
                time_dim=audio_spec.static_dim(audio_spec.rank - 1) if audio_spec.rank else None,
                min_time=int(profile[0][-1]) if profile else None,
            )
            self.long_clips = self.lengths.long_clips
            limits = [self.max_batch_size, runner.max_batch_size, self._fixed_batch]
            self._chunk = min(x for x in limits if x is not None)
            if check:
                self._check_run()
        except BaseException:
            runner.deactivate()
            raise

    # ----- construction -----------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        backend: str = "auto",
        *,
        channels: str | int = "mix",
        hop: int | None = None,
        long_clips: str | None = None,
        allow_int: bool = False,
        max_batch_size: int = 32,
        check: bool = True,
        intra_op_num_threads: int | None = None,
    ) -> "Pipeline":
        """Open a pipeline artifact: ``X.onnx`` (ONNX Runtime backends) or ``X.engine`` + ``X.engine.json``
        (``tensorrt``). ``backend`` is ``"auto"`` or a name from :data:`~audiofront.runtime.BACKENDS`.

        Raises :class:`ModelFileError` when the file is missing, unreadable, or not what its
        metadata says; :class:`BackendUnavailable` (with the reason) when the backend cannot run
        here; :class:`ConfigError` for a bad option (``long_clips`` not in :data:`LONG_CLIPS`...).
        """
        check_long_clips(long_clips)
        path = Path(path)
        source = str(path)
        meta, kind = read_pipeline_metadata(path)
        info = pipeline_info(meta, f"engine sidecar of {source!r}" if kind == "engine" else f"model file {source!r}")
        options = dict(channels=channels, hop=hop, long_clips=long_clips, allow_int=allow_int,
                       max_batch_size=max_batch_size, check=check)
        # With "auto", a backend that passed its probe but fails to start on this model (GPU out of
        # memory, a provider library missing) is skipped like an unusable one, and the reason says so.
        failed: dict[str, str] = {}
        while True:
            choice = choose_backend(backend, kind=kind, unsupported=failed)
            runner = get_backend(choice.name).make_runner(path, kind=kind, threads=intra_op_num_threads)
            try:
                return cls(runner, info, backend=choice.name, backend_reason=choice.reason, source=source, **options)
            except BackendUnavailable as exc:
                if backend != "auto":
                    raise
                failed[choice.name] = f"failed to start: {exc}"

    @classmethod
    def from_torch(
        cls,
        frontend,
        classifier=None,
        *,
        labels: Sequence[str],
        sample_rate: int | None = None,
        clip_samples: int,
        output: str = "logits",
        device: str = "cpu",
        layout: str = "batch,1,bins,frames",
        channels: str | int = "mix",
        hop: int | None = None,
        long_clips: str | None = None,
        allow_int: bool = False,
        max_batch_size: int = 32,
        check: bool = True,
    ) -> "Pipeline":
        """A pipeline over torch modules: ``classifier(frontend(audio))`` (see :class:`FrontEndClassifier`
        for ``layout``), or ``frontend`` alone when it already maps audio to class scores.

        ``sample_rate`` defaults to ``frontend.sample_rate`` (a preset records it). ``device`` is
        ``"cpu"``, ``"cuda"``/``"cuda:N"`` or ``"auto"`` (the best usable torch backend).
        The module is fed windows of exactly ``clip_samples``: short clips are zero-padded in
        samples, and ``long_clips`` defaults to ``"windows"`` (as for any fixed-length model).
        """
        if classifier is None:
            module = frontend
        else:
            from audiofront.export.classifier import FrontEndClassifier

            module = FrontEndClassifier(frontend, classifier, layout)
        own_rate = getattr(frontend, "sample_rate", None)
        if sample_rate is None:
            sample_rate = own_rate
            if sample_rate is None:
                raise ConfigError("sample_rate is needed: the front-end does not record one")
        try:
            sample_rate = check_sample_rate(sample_rate)
        except InputError as exc:
            raise ConfigError(str(exc)) from None
        if isinstance(own_rate, int) and own_rate != sample_rate:
            raise ConfigError(f"sample_rate={sample_rate} disagrees with the front-end's own sample_rate={own_rate}")
        clip_samples = _check_positive("clip_samples", clip_samples)
        if isinstance(labels, str) or not labels or not all(isinstance(x, str) for x in labels):
            raise ConfigError("labels must be a non-empty sequence of strings")
        if len(set(labels)) != len(labels):
            raise ConfigError("labels must not hold duplicates")
        if output not in OUTPUT_KINDS:
            raise ConfigError(f"output must be one of {list(OUTPUT_KINDS)}, got {output!r}")
        if not isinstance(device, str):
            raise ConfigError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")
        family = "cuda" if device.startswith("cuda") else device
        if family not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")
        if family == "auto":
            choice = choose_backend("auto", kind="torch")
        else:  # the registry's best torch backend on that device, asked for by name (its reason if unusable)
            candidates = auto_order(kind="torch", device=family)
            if not candidates:
                raise BackendUnavailable(f"no registered backend runs torch modules on {family}")
            choice = choose_backend(candidates[0], kind="torch")
        backend = get_backend(choice.name)
        runner = backend.make_runner(
            module, kind="torch", device=device if device.startswith("cuda") else backend.device,
            input_specs=[TensorSpec("audio", ("batch", clip_samples), np.float32)],
            output_specs=[TensorSpec(output, ("batch", len(labels)), np.float32)],
        )
        info = PipelineInfo(
            sample_rate, clip_samples, tuple(labels), output, "batch,time",
            {"audiofront.kind": "pipeline", "audiofront.sample_rate": str(sample_rate),
             "audiofront.clip_samples": str(clip_samples), "audiofront.output": output},
        )
        try:
            return cls(
                runner, info, backend=choice.name, backend_reason=choice.reason, source=f"torch {type(module).__name__}",
                channels=channels, hop=hop, long_clips=long_clips, allow_int=allow_int,
                max_batch_size=max_batch_size, check=check,
            )
        except ModelFileError as exc:  # nothing was loaded from a file: the arguments disagree with the modules
            raise ConfigError(str(exc)) from None

    def _check_run(self) -> None:
        rng = np.random.default_rng(0)
        probe = (rng.standard_normal((1, self.clip_samples)) * 0.05).astype(np.float32)
        try:
            raw = self._infer(probe)
        except (InputError, RunnerError) as exc:
            raise ModelFileError(f"{self.source} fails a check run on one window of {self.clip_samples} samples: {exc}") from None
        if raw.shape != (1, self.n_classes):
            raise ModelFileError(
                f"{self.source} gives shape {raw.shape} for one window; its metadata says (1, {self.n_classes}) "
                f"({self.n_classes} labels)"
            )
        if not np.isfinite(raw).all():
            raise ModelFileError(f"{self.source} gives NaN/Inf for a quiet noise window")
        if self.output == "probabilities" and (raw.min() < -1e-4 or abs(float(raw.sum()) - 1.0) > 1e-3):
            raise ModelFileError(
                f"{self.source} says audiofront.output='probabilities' but its outputs do not sum to 1 "
                f"(sum {float(raw.sum()):.4g}, min {float(raw.min()):.4g}): are they logits?"
            )
        # The reverse: a softmax over probabilities would flatten them towards uniform, silently.
        if self.output == "logits" and self.n_classes > 1 and raw.min() >= -1e-6 and abs(float(raw.sum()) - 1.0) <= 1e-4:
            raise ModelFileError(
                f"{self.source} says audiofront.output='logits' but its outputs already sum to 1 "
                f"(sum {float(raw.sum()):.6g}, min {float(raw.min()):.4g}): are they probabilities? Softmax "
                "would be applied twice; set output='probabilities'"
            )

    # ----- inference --------------------------------------------------------------------------
    def _infer(self, batch: np.ndarray) -> np.ndarray:
        """Raw model output for ``(n, width)`` float32, n <= chunk size (width: :meth:`LengthPolicy.accepts`)."""
        n = batch.shape[0]
        if self._fixed_batch is not None and n < self._fixed_batch:
            padded = np.zeros((self._fixed_batch, batch.shape[1]), np.float32)
            padded[:n] = batch
            batch = padded
        if self.input_layout == "batch,channels,time":
            batch = batch[:, np.newaxis, :]
        out = self.runner.infer({self.input_name: batch})[self.output_name]
        return np.asarray(out[:n], dtype=np.float32)

    def _check_windows(self, windows) -> np.ndarray:
        if is_torch_tensor(windows):
            windows = windows.detach().to("cpu").numpy()
        widths = self.lengths.describe_widths()
        if not isinstance(windows, np.ndarray):
            raise InputError(f"windows must be a numpy array (batch, {widths}), got {type(windows).__name__}")
        if windows.dtype.kind != "f":
            raise InputError(f"windows must hold float samples, got dtype {windows.dtype}")
        if windows.ndim != 2 or not self.lengths.accepts(windows.shape[1]):
            raise InputError(f"windows must have shape (batch, {widths}), got {windows.shape}")
        windows = np.ascontiguousarray(windows, dtype=np.float32)
        if not np.isfinite(windows).all():
            raise InputError("windows hold NaN or infinite samples")
        check_sample_range(windows, name="windows")
        return windows

    def predict(self, windows) -> np.ndarray:
        """``(batch, clip_samples)`` float audio windows -> ``(batch, n_classes)`` float32 probabilities.

        Where the graph fixes its own length (``lengths.fixes_own_length``), the windows of one call
        may also be shorter, all of one width in [``lengths.min_samples``, ``clip_samples``]: the
        graph pads them as the model's extractor does. Runs in chunks of at most
        ``max_batch_size``; an item's result does not depend on its batch.
        """
        if not self.runner.is_active:
            raise RunnerError(f"pipeline {self.source} is closed")
        windows = self._check_windows(windows)
        if windows.shape[0] == 0:
            return np.zeros((0, self.n_classes), np.float32)
        parts = []
        for start in range(0, windows.shape[0], self._chunk):
            raw = self._infer(windows[start : start + self._chunk])
            if raw.ndim != 2 or raw.shape[1] != self.n_classes:
                raise RunnerError(f"{self.source} returned shape {raw.shape}, expected (batch, {self.n_classes})")
            parts.append(_softmax(raw) if self.output == "logits" else raw)
        return np.concatenate(parts)

    def prepare(self, audio, sample_rate: int | None = None) -> np.ndarray:
        """One clip -> the model's input rows ``(n_windows, width)`` float32 at the model's rate.

        ``audio``: a numpy array or torch tensor, ``(time,)`` or ``(channels, time)``, at
        ``sample_rate`` (``None``: already at ``self.sample_rate``); or an audio file (path,
        bytes, binary file object), read with soundfile at its own rate.

        ``width`` is ``clip_samples``, except for a short clip on a graph that fixes its own
        length: its own length (at least ``lengths.min_samples``, zero-padded up to that), so
        that the graph pads it like the model's extractor. A long clip gives one row
        (``long_clips="truncate"``: its first ``clip_samples``) or its overlapping windows.
        """
        return self._prepare(audio, sample_rate)[0]

    def _prepare(self, audio, sample_rate: int | None) -> tuple[np.ndarray, int]:
        mono = prepare_mono(audio, sample_rate, target_rate=self.sample_rate, channels=self.channels,
                            allow_int=self.allow_int)
        return self.lengths.fit(mono, self.hop), int(mono.size)

    def classify(self, items, *, sample_rate: int | None = None, top_k: int = 5) -> list[Classification]:
        """Classify clips: a list of arrays/tensors (at ``sample_rate``) and/or audio files, or one item.

        Each item is fitted to the model (:meth:`prepare`) and its window probabilities are
        averaged. Items whose rows have the same width share backend calls; other widths (short
        clips on a graph that pads them itself) run in calls of their own, so an item's answer
        never depends on the others. A bad item gets a :class:`Classification` with ``error``
        set; the others are still classified.
        """
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 0:
            raise ConfigError(f"top_k must be a non-negative integer, got {top_k!r}")
        items = [items] if _is_single(items) else list(items)
        results: list[Classification | None] = [None] * len(items)
        prepared: list[tuple[int, np.ndarray, int]] = []
        for i, item in enumerate(items):
            source = _describe(item, i)
            try:
                prepared.append((i, *self._prepare(item, sample_rate)))
            except AudiofrontError as exc:
                results[i] = Classification(source, error=str(exc))
            except Exception as exc:  # a reader's unexpected failure must not take the batch down
                results[i] = Classification(source, error=f"{type(exc).__name__}: {exc}")
        per_item: list = [None] * len(prepared)
        for members in group_by_width([w for _, w, _ in prepared]).values():
            try:
                probs = self.predict(np.concatenate([prepared[k][1] for k in members]))
                splits = np.cumsum([len(prepared[k][1]) for k in members])[:-1]
                for k, p in zip(members, np.split(probs, splits)):
                    per_item[k] = p
            except Exception:  # find the item at fault: run them one by one
                for k in members:
                    try:
                        per_item[k] = self.predict(prepared[k][1])
                    except Exception as exc:
                        per_item[k] = exc
        for (i, windows, length), probs in zip(prepared, per_item):
            source = _describe(items[i], i)
            truncated = length > self.clip_samples and self.long_clips == "truncate"
            if isinstance(probs, Exception):
                results[i] = Classification(source, error=f"{type(probs).__name__}: {probs}", windows=len(windows),
                                            truncated=truncated)
                continue
            mean = probs.mean(axis=0, dtype=np.float64).astype(np.float32)
            order = np.argsort(-mean, kind="stable")[: min(top_k, self.n_classes)]
            results[i] = Classification(
                source, [(self.labels[j], float(mean[j])) for j in order], mean, None, len(windows), truncated
            )
        return results

    def stream(self, *, hop: int | None = None):
        """Classify live audio per ``hop`` (default: this pipeline's hop): a
        :class:`~audiofront.runtime.streaming.PipelineStream` over ``(streams, samples)`` chunks of mono
        audio at ``sample_rate``, whose final answers equal :meth:`classify` of the whole clips
        (with ``long_clips="truncate"``: every window is answered as it completes, the final
        answer is the first window's)."""
        from audiofront.runtime.streaming import PipelineStream

        return PipelineStream(self, hop=self.hop if hop is None else hop)

    # ----- life cycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Free the backend (GPU memory, sessions); the pipeline cannot predict afterwards."""
        self.runner.deactivate()

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Pipeline(source={self.source!r}, backend={self.backend!r}, sample_rate={self.sample_rate}, "
            f"clip_samples={self.clip_samples}, n_classes={self.n_classes}, long_clips={self.long_clips!r})"
        )
