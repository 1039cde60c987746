"""Train the shipped piano model on synthesised notes (:mod:`audiofront.models.synth`).

Reproducible: batch ``i`` of seed ``s`` is drawn from ``np.random.SeedSequence([TRAIN_STREAM, s, i])``,
the classifier is initialised under ``torch.manual_seed(s)``, and torch runs deterministic
algorithms. Evaluation sets use other streams (:mod:`audiofront.models.evaluate`), so no
held-out note is ever a training note.

Example::

    >>> summary = train(steps=2, batch=4, out=tmp_path, export=False, progress=False)
    >>> sorted(p.name for p in tmp_path.iterdir())
    ['piano.json', 'piano.pt']
"""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audiofront.errors import ConfigError
from audiofront.models.piano import DEFAULT_CONFIG, WEIGHTS_NAME, build_classifier, build_frontend, export_pipeline
from audiofront.models.synth import random_notes
from audiofront.models.notes import MIDI_LOW

__all__ = ["TRAIN_STREAM", "train", "batch_for_step"]

TRAIN_STREAM = 0


def batch_for_step(step: int, *, batch: int, seed: int, config: dict) -> tuple[np.ndarray, np.ndarray]:
    """Audio ``(batch, clip_samples)`` and class indices ``(batch,)`` of training step ``step``."""
    rng = np.random.default_rng(np.random.SeedSequence([TRAIN_STREAM, seed, step]))
    audio, midi = random_notes(batch, rng=rng, sample_rate=config["sample_rate"], n_samples=config["clip_samples"])
    return audio, midi - MIDI_LOW


def _check_positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


def train(*, steps: int = 3000, batch: int = 64, seed: int = 0, lr: float = 3e-3, out=None,
          export: bool = True, progress: bool = True, threads: int | None = None,
          config: dict | None = None) -> dict:
    """Train the classifier; write ``piano.pt`` + ``piano.json`` (and ``piano88.onnx`` if ``export``) to ``out``.

    ``out`` defaults to ``./piano-model``. AdamW with a one-cycle schedule (warm-up then cosine
    decay), label smoothing 0.05. Returns a summary dict (the JSON's ``training`` entry).
    """
    _check_positive("steps", steps)
    _check_positive("batch", batch)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if not (isinstance(lr, (int, float)) and 0 < lr < 1):
        raise ConfigError(f"lr must be in (0, 1), got {lr!r}")
    config = copy.deepcopy(DEFAULT_CONFIG if config is None else config)
    out = Path("piano-model" if out is None else out)
    out.mkdir(parents=True, exist_ok=True)
    if threads is not None:
        _check_positive("threads", threads)
    # Global torch settings are changed for the run only, then put back.
    saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True)
        return _run(steps=steps, batch=batch, seed=seed, lr=lr, out=out, export=export, progress=progress,
                    config=config)
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1])


def _run(*, steps, batch, seed, lr, out, export, progress, config) -> dict:
    torch.manual_seed(seed)

    # The model's own front-end: its Spectrogram ("auto") runs torch.stft in eager mode, the same
    # numbers bit for bit as the framing + rfft that made the shipped weights (docs/models.md).
    frontend = build_frontend(config).eval()
    classifier = build_classifier(config)
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)

    bar = range(steps)
    if progress:
        from tqdm import tqdm

        bar = tqdm(bar, desc="train", unit="step", dynamic_ncols=True)
    started = time.perf_counter()
    running_loss = running_acc = None
    classifier.train()
    for step in bar:
        audio, target = batch_for_step(step, batch=batch, seed=seed, config=config)
        with torch.no_grad():
            x = frontend(torch.from_numpy(audio))
        logits = classifier(x)
        target_t = torch.from_numpy(target)
        loss = loss_fn(logits, target_t)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        acc = float((logits.detach().argmax(-1) == target_t).float().mean())
        loss_value = float(loss.detach())
        running_loss = loss_value if running_loss is None else 0.98 * running_loss + 0.02 * loss_value
        running_acc = acc if running_acc is None else 0.98 * running_acc + 0.02 * acc
        if not math.isfinite(loss_value):
            raise RuntimeError(f"training diverged at step {step} (loss {loss_value}); lower --lr")
        if progress:
            bar.set_postfix(loss=f"{running_loss:.3f}", acc=f"{running_acc:.3f}", refresh=False)
    classifier.eval()
    seconds = time.perf_counter() - started

    summary = {
        "steps": steps,
        "batch": batch,
        "seed": seed,
        "lr": lr,
        "optimizer": "AdamW(weight_decay=1e-4) + OneCycleLR(pct_start=0.1), label_smoothing=0.05",
        "data": "audiofront.models.synth.random_notes, SeedSequence([0, seed, step])",
        "final_running_loss": round(running_loss, 4),
        "final_running_accuracy": round(running_acc, 4),
        "seconds": round(seconds, 1),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    state = {k: v.detach().clone().contiguous() for k, v in classifier.state_dict().items()}
    torch.save(state, out / f"{WEIGHTS_NAME}.pt")
    (out / f"{WEIGHTS_NAME}.json").write_text(json.dumps({"config": config, "training": summary}, indent=1) + "\n")
    if export:
        export_pipeline(frontend, classifier, config, out / "piano88.onnx")
    return summary
