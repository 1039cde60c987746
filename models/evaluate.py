"""Honest accuracy of the piano model: top-1 and within-one-semitone on notes it never saw.

Three test sets, every note A0..C8 equally often:

- ``synth``: the training generator, drawn from a stream training never uses
  (``SeedSequence([HOLDOUT_STREAM, seed])``; training draws ``[0, seed, step]``);
- ``pluck``: Karplus-Strong strings (:mod:`audiofront.models.pluck`), a different generator;
- ``sox``: Debian's ``sox synth 1 pluck FREQ`` (only when ``sox`` is on PATH).

Run ``audiofront evaluate`` (or ``audiofront train --eval-only``; ``python -m audiofront.models.evaluate`` still works).

Example::

    >>> from audiofront.models.piano import load_piano_model
    >>> from audiofront.models.evaluate import evaluate, pluck_notes
    >>> frontend, classifier, _ = load_piano_model()
    >>> audio, midi = pluck_notes(per_note=1, seed=0)
    >>> evaluate(frontend, classifier, audio, midi)["top1"] > 0.5
    True
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys

import numpy as np
import torch

from audiofront.errors import BackendUnavailable
from audiofront.models.notes import MIDI_HIGH, MIDI_LOW, note_frequency
from audiofront.models.pluck import karplus_strong
from audiofront.models.synth import draw_params, synthesize

__all__ = ["HOLDOUT_STREAM", "PLUCK_STREAM", "holdout_notes", "pluck_notes", "sox_notes", "evaluate",
           "evaluate_all", "main"]

HOLDOUT_STREAM = 1
PLUCK_STREAM = 2
_REGISTERS = (("A0-B2", MIDI_LOW, 47), ("C3-B5", 48, 83), ("C6-C8", 84, MIDI_HIGH))


def _balanced(per_note: int) -> np.ndarray:
    return np.repeat(np.arange(MIDI_LOW, MIDI_HIGH + 1), per_note)


def holdout_notes(*, per_note: int = 4, seed: int = 0, sample_rate: int = 16000, n_samples: int = 16000):
    """Synthetic notes from a stream training never draws: ``(audio (88 * per_note, n_samples), midi)``."""
    rng = np.random.default_rng(np.random.SeedSequence([HOLDOUT_STREAM, seed]))
    midi = _balanced(per_note)
    params = draw_params(midi, rng, clip_seconds=n_samples / sample_rate)
    return synthesize(params, rng, sample_rate=sample_rate, n_samples=n_samples), midi


def pluck_notes(*, per_note: int = 2, seed: int = 0, sample_rate: int = 16000, n_samples: int = 16000):
    """Karplus-Strong notes: ``(audio (88 * per_note, n_samples) float32, midi)``."""
    rng = np.random.default_rng(np.random.SeedSequence([PLUCK_STREAM, seed]))
    midi = _balanced(per_note)
    return karplus_strong(midi, rng=rng, sample_rate=sample_rate, n_samples=n_samples), midi


def sox_notes(*, sample_rate: int = 16000, n_samples: int = 16000):
    """One ``sox -n ... synth 1 pluck FREQ`` note per key; raises :class:`BackendUnavailable` without sox."""
    import soundfile as sf

    sox = shutil.which("sox")
    if sox is None:
        raise BackendUnavailable("sox is not on PATH (Debian: apt-get install sox)")
    midi = _balanced(1)
    audio = np.zeros((midi.size, n_samples), dtype=np.float32)
    for i, m in enumerate(midi):
        # -R: repeatable noise; -D: no dither; 32-bit float WAV on stdout.
        cmd = [sox, "-R", "-D", "-n", "-r", str(sample_rate), "-c", "1", "-e", "floating-point", "-b", "32",
               "-t", "wav", "-", "synth", f"{n_samples / sample_rate:g}", "pluck", f"{note_frequency(m):.4f}"]
        raw = subprocess.run(cmd, check=True, capture_output=True).stdout
        y, _ = sf.read(io.BytesIO(raw), dtype="float32")
        y = y[:n_samples]
        audio[i, : y.size] = 0.5 * y / max(float(np.max(np.abs(y))), 1e-12)
    return audio, midi


@torch.no_grad()
def evaluate(frontend, classifier, audio: np.ndarray, midi: np.ndarray, *, batch: int = 64) -> dict:
    """Top-1 and within-one-semitone accuracy of ``classifier(frontend(audio))`` against ``midi``.

    Returns ``{"n", "top1", "within1", "registers": {name: top1}}`` (fractions in [0, 1]).
    """
    predictions = []
    for start in range(0, len(audio), batch):
        x = torch.from_numpy(np.ascontiguousarray(audio[start : start + batch], dtype=np.float32))
        predictions.append(classifier(frontend(x)).argmax(-1).numpy())
    predicted = np.concatenate(predictions) + MIDI_LOW
    error = np.abs(predicted - midi)
    registers = {}
    for name, lo, hi in _REGISTERS:
        inside = (midi >= lo) & (midi <= hi)
        registers[name] = round(float(np.mean(error[inside] == 0)), 4) if inside.any() else None
    return {"n": int(midi.size), "top1": round(float(np.mean(error == 0)), 4),
            "within1": round(float(np.mean(error <= 1)), 4), "registers": registers}


def evaluate_all(frontend, classifier, *, per_note: int = 4, seed: int = 0, use_sox: bool = True) -> dict:
    """The three test sets (``sox`` skipped, with the reason, when sox is missing)."""
    results = {
        "synth": evaluate(frontend, classifier, *holdout_notes(per_note=per_note, seed=seed)),
        "pluck": evaluate(frontend, classifier, *pluck_notes(per_note=max(1, per_note // 2), seed=seed)),
    }
    if use_sox:
        try:
            results["sox"] = evaluate(frontend, classifier, *sox_notes())
        except BackendUnavailable as exc:
            results["sox"] = {"skipped": str(exc)}
    return results


def format_results(results: dict) -> str:
    lines = [f"{'set':<6} {'notes':>5} {'top-1':>7} {'±1 st':>7}   top-1 by register"]
    for name, r in results.items():
        if "skipped" in r:
            lines.append(f"{name:<6} skipped: {r['skipped']}")
            continue
        regs = ", ".join(f"{k} {v:.1%}" for k, v in r["registers"].items() if v is not None)
        lines.append(f"{name:<6} {r['n']:>5} {r['top1']:>7.1%} {r['within1']:>7.1%}   {regs}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from audiofront.models.cli import add_evaluate_arguments

    add_evaluate_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from audiofront.models.piano import load_piano_model

    frontend, classifier, _ = load_piano_model(args.weights)
    if args.per_note < 1:
        print(f"--per-note must be >= 1, got {args.per_note}", file=sys.stderr)
        return 2
    results = evaluate_all(frontend, classifier, per_note=args.per_note, seed=args.eval_seed, use_sox=not args.no_sox)
    print(json.dumps(results, indent=1) if args.json else format_results(results))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audiofront.models.evaluate", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
