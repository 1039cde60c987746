"""``audiofront train``, ``audiofront demo`` and ``audiofront classify``: the piano model from the shell.

- ``train``: train the shipped model on synthesised notes (``--eval-only``: measure a model's accuracy);
- ``demo``: synthesise a melody to a WAV file, classify it note by note on ONNX Runtime (CPU),
  compare with torch; exits 1 when the backends disagree or the notes come out wrong;
- ``classify FILE...``: top-k labels of audio files (WAV/FLAC/OGG/MP3, any rate), ``--json``; the
  piano model's cached ONNX pipeline or any pipeline file (``--model``), on ONNX Runtime without
  importing torch; ``--long-clips windows|truncate`` (default: the model's); ``--verbose`` prints
  the import, load and first-call times and how short and long clips are handled;
- ``evaluate``: the piano model's accuracy on held-out sets (= ``train --eval-only``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from audiofront.arguments import add_backend_argument, add_long_clips_argument, add_threads_argument, add_verbose_argument

__all__ = ["register", "add_evaluate_arguments", "DEMO_MELODY", "read_audio"]

# Ode to Joy, first phrase, with a bass line under it: spans A1..G5.
DEMO_MELODY = "E4 E4 F4 G4 G4 F4 E4 D4 C4 C4 D4 E4 E4 D4 D4 C3 G2 A1 G5"
DEMO_SEED = 3
# Below this rate the top piano notes cannot be represented; above it the file is not audio we expect.
MIN_RATE, MAX_RATE = 8000, 384000


def add_evaluate_arguments(parser) -> None:
    """The held-out evaluation's options (``train --eval-only``, ``evaluate``, ``python -m audiofront.models.evaluate``)."""
    parser.add_argument("--weights", default=None, help="folder with piano.pt/piano.json (default: the shipped model)")
    parser.add_argument("--per-note", type=int, default=4, help="synthetic notes per key (pluck: half as many; default 4)")
    parser.add_argument("--eval-seed", type=int, default=0, help="seed of the held-out sets (default 0)")
    parser.add_argument("--no-sox", action="store_true", help="skip the sox pluck set")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train the piano-note model on synthesised notes",
                              description="Train the 88-class piano model on synthesised notes (reproducible: fixed "
                                          "seed, deterministic data); writes piano.pt, piano.json and piano88.onnx.")
    p.add_argument("--steps", type=int, default=2000, help="optimiser steps (default 2000)")
    p.add_argument("--batch", type=int, default=64, help="notes per step (default 64)")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (default 3e-3)")
    add_threads_argument(p, what="torch CPU threads")
    p.add_argument("--out", default="piano-model", help="output folder (default ./piano-model)")
    p.add_argument("--no-export", action="store_true", help="skip writing the ONNX pipeline")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--eval-only", action="store_true",
                   help="do not train: print the accuracy of --weights (default: the shipped model) on held-out sets")
    add_evaluate_arguments(p)
    p.set_defaults(func=_train)

    p = subparsers.add_parser("evaluate", help="accuracy of the piano model on held-out notes (train --eval-only)",
                              description="Top-1 and within-one-semitone accuracy of the piano model on notes it "
                                          "never saw: held-out synthetic notes, Karplus-Strong plucks, sox plucks.")
    add_evaluate_arguments(p)
    p.set_defaults(func=_evaluate)

    p = subparsers.add_parser("demo", help="synthesise a melody and recognise its notes on ONNX Runtime (CPU)",
                              description="Synthesise a short melody to a WAV file, run it through the piano model's "
                                          "ONNX pipeline note by note, print each note found vs the truth, the latency "
                                          "per clip and the torch-vs-ONNX agreement. Exit 1 if something is broken.")
    p.add_argument("--out", default=None, help="folder for demo-melody.wav (default: a new temporary folder)")
    p.add_argument("--notes", default=DEMO_MELODY, help=f"note names, space-separated (default: {DEMO_MELODY!r})")
    p.add_argument("--note-seconds", type=float, default=0.5, help="length of each note (default 0.5)")
    add_backend_argument(p, default="onnxruntime-cpu")
    p.set_defaults(func=_demo)

    p = subparsers.add_parser("classify", help="name the piano note (or --model's labels) in audio files",
                              description="Top-k piano notes of each audio file (WAV/FLAC/OGG/MP3, any sample rate, "
                                          "mixed to mono); window probabilities are averaged over the file (a "
                                          "reference preset's pipeline classifies the first window, as its "
                                          "extractor does: --long-clips). With "
                                          "--model, any pipeline ONNX or TensorRT engine and its labels. Runs "
                                          "without torch unless the backend is torch-* or the piano model's pipeline "
                                          "is not cached yet.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--model", default=None, metavar="FILE",
                   help="a pipeline .onnx or .engine (default: the shipped piano model, exported once into the cache)")
    add_backend_argument(p)
    add_threads_argument(p)
    add_long_clips_argument(p)
    add_verbose_argument(p)
    p.add_argument("--top-k", type=int, default=3, help="labels per file (default 3)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(func=_classify)


def _evaluate(args) -> int:
    from audiofront.models import evaluate

    return evaluate.run(args)


def _train(args) -> int:
    if args.eval_only:
        return _evaluate(args)
    from audiofront.models.train import train

    summary = train(steps=args.steps, batch=args.batch, seed=args.seed, lr=args.lr, out=args.out,
                    export=not args.no_export, progress=not args.no_progress, threads=args.threads)
    print(json.dumps(summary, indent=1))
    print(f"wrote {Path(args.out) / 'piano.pt'} and piano.json" + ("" if args.no_export else " and piano88.onnx"))
    print(f"accuracy: audiofront train --eval-only --weights {args.out}")
    return 0


def read_audio(path) -> tuple:
    """``(mono float32 (time,), sample_rate)`` of an audio file; :class:`InputError` with the reason otherwise.

    Rejects unreadable files, rates outside [8000, 384000] Hz and NaN/Inf samples. Silence and
    clips shorter or longer than one window are classified as ``Pipeline.classify`` and
    ``audiofront serve`` classify them (fitted by the pipeline's length policy: zero-padded to a
    window, or passed at their own length to a preset graph that pads them itself), so the three agree.
    """
    import numpy as np

    from audiofront.errors import InputError
    from audiofront.runtime.audio import load_audio

    if not Path(path).is_file():
        raise InputError("no such file" if not Path(path).exists() else "not a file")
    data, rate = load_audio(path, min_rate=MIN_RATE, max_rate=MAX_RATE)  # (channels, time)
    mono = data.mean(axis=0, dtype=np.float32)
    return mono, int(rate)


def _open_pipeline(args):
    """The Pipeline ``classify`` runs: ``--model``, else the piano model (its cached ONNX; torch only to
    export it once, or for a torch-* backend)."""
    from audiofront.runtime import Pipeline
    from audiofront.runtime.backends import runs

    torch_backend = args.backend != "auto" and runs(args.backend, "torch")
    options = dict(backend=args.backend, intra_op_num_threads=args.threads, long_clips=args.long_clips)
    if args.model is not None:
        return Pipeline.load(args.model, **options)
    if not torch_backend:
        from audiofront.models.cache import cached_pipeline_path

        cached = cached_pipeline_path()
        if cached.is_file():
            return Pipeline.load(cached, **options)
    from audiofront.runtime.torch_runner import import_torch

    torch = import_torch("export the piano model into the cache once (or run it on a torch-* backend); "
                         "pass --model pipeline.onnx to classify with an exported pipeline instead")
    if args.threads and torch_backend:
        torch.set_num_threads(args.threads)
    from audiofront.models.piano import load_pipeline, pipeline_onnx

    if torch_backend:
        return load_pipeline(args.backend, long_clips=args.long_clips)
    return Pipeline.load(pipeline_onnx(), **options)


def _describe_label(label: str) -> tuple[str, float | None]:
    from audiofront.errors import InputError
    from audiofront.models.notes import label_frequency, label_text

    try:
        return label_text(label), round(label_frequency(label), 2)
    except (InputError, ValueError, KeyError):  # a --model's labels need not be notes
        return label, None


def _classify(args) -> int:
    from audiofront.errors import InputError

    started = time.perf_counter()
    if args.top_k < 1:
        print(f"audiofront classify: --top-k must be >= 1, got {args.top_k}", file=sys.stderr)
        return 2
    pipeline = _open_pipeline(args)
    loaded = time.perf_counter()
    results, failed, first_call = [], 0, None
    with pipeline:
        for path in args.files:
            entry = {"file": path, "top": [], "windows": 0, "truncated": False, "error": None}
            try:
                audio, rate = read_audio(path)
                t0 = time.perf_counter()
                (result,) = pipeline.classify([audio], sample_rate=rate, top_k=args.top_k)
                first_call = first_call if first_call is not None else time.perf_counter() - t0
                if result.error:
                    raise InputError(result.error)
                entry["windows"], entry["truncated"] = int(result.windows), bool(result.truncated)
                for lab, p in result.top:
                    text, hz = _describe_label(lab)
                    entry["top"].append({"label": lab, **({"frequency_hz": hz} if hz is not None else {}),
                                         "probability": float(p), "text": text})
            except InputError as exc:
                entry["error"] = str(exc)
                failed += 1
                print(f"audiofront classify: {path}: {exc}", file=sys.stderr)
            results.append(entry)
            if not args.json and entry["error"] is None:
                window_word = "window" if entry["windows"] == 1 else "windows"
                cut = f", its first {pipeline.clip_samples} samples" if entry["truncated"] else ""
                print(f"{path} ({entry['windows']} {window_word}{cut}, backend {pipeline.backend})")
                for t in entry["top"]:
                    print(f"  {t['text']:<18} {t['probability']:.3f}")
    for entry in results:
        for t in entry["top"]:
            del t["text"]
    if args.json:
        print(json.dumps({"backend": pipeline.backend, "results": results}, indent=1))
    if args.verbose:
        from audiofront.cli import START_TIME

        imports = started - START_TIME if START_TIME else float("nan")
        torch_loaded = "torch" in sys.modules
        print(f"audiofront classify: start-up {imports:.3f} s (interpreter and imports up to the command), "
              f"model load {loaded - started:.3f} s ({pipeline.source} on {pipeline.backend}), "
              f"first call {first_call if first_call is not None else float('nan'):.3f} s, total "
              f"{time.perf_counter() - (START_TIME or started):.3f} s; torch imported: {'yes' if torch_loaded else 'no'}",
              file=sys.stderr)
        short = ("passed at their own length (the graph pads them like its extractor)"
                 if pipeline.lengths.fixes_own_length else f"zero-padded to {pipeline.clip_samples} samples")
        print(f"audiofront classify: long clips: {pipeline.long_clips} "
              f"({'default' if args.long_clips is None else '--long-clips'}); short clips {short}", file=sys.stderr)
    return 1 if failed else 0


def _demo(args) -> int:
    import tempfile

    import numpy as np
    import soundfile as sf

    from audiofront.errors import InputError
    from audiofront.models.notes import label_text, midi_from_name
    from audiofront.models.piano import load_pipeline, pipeline_onnx
    from audiofront.models.synth import melody
    from audiofront.runtime.audio import load_audio

    names = args.notes.split()
    if not names:
        raise InputError("--notes is empty")
    midi = [midi_from_name(n) for n in names]
    if not 0.15 <= args.note_seconds <= 5.0:
        raise InputError(f"--note-seconds must be in [0.15, 5], got {args.note_seconds}")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="audiofront-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    rate = 16000
    audio = melody(midi, rng=np.random.default_rng(np.random.SeedSequence([DEMO_SEED, 0])), sample_rate=rate,
                   note_seconds=args.note_seconds)
    wav = out / "demo-melody.wav"
    sf.write(str(wav), audio, rate, subtype="PCM_16")
    print(f"melody: {len(names)} notes, {audio.size / rate:.1f} s -> {wav}")

    started = time.perf_counter()
    onnx_path = pipeline_onnx()
    print(f"model: {onnx_path} ({time.perf_counter() - started:.1f} s to find or export)")
    onnx_pipe = load_pipeline(args.backend)
    torch_pipe = load_pipeline("torch-cpu")
    with onnx_pipe, torch_pipe:
        (recorded,), file_rate = load_audio(wav)
        step = int(round(args.note_seconds * file_rate))
        # One window per note: the note's own samples, padded by prepare() to the model's clip.
        windows = np.stack([onnx_pipe.prepare(recorded[i * step : (i + 1) * step], sample_rate=file_rate)[0]
                            for i in range(len(names))])
        probs = onnx_pipe.predict(windows)
        latencies = []
        for _ in range(3):
            for w in windows:
                t0 = time.perf_counter()
                onnx_pipe.predict(w[None])
                latencies.append(time.perf_counter() - t0)
        batched_runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            onnx_pipe.predict(windows)
            batched_runs.append((time.perf_counter() - t0) / len(windows))
        batched = float(np.median(batched_runs))
        reference = torch_pipe.predict(windows)

    labels = onnx_pipe.labels
    found = probs.argmax(axis=1)
    print(f"\n{'#':>3}  {'truth':<18} {'found':<18} {'p':>6}")
    correct = 0
    for i, (name, k) in enumerate(zip(names, found)):
        ok = labels[k] == name
        correct += ok
        print(f"{i + 1:>3}  {label_text(name):<18} {label_text(labels[k]):<18} {probs[i, k]:>6.3f}  {'ok' if ok else 'WRONG'}")
    max_diff = float(np.max(np.abs(probs - reference)))
    agree = int(np.sum(found == reference.argmax(axis=1)))
    print(f"\nnotes right: {correct}/{len(names)}")
    print(f"latency on {onnx_pipe.backend}: {1000 * float(np.median(latencies)):.1f} ms per clip "
          f"(batch 1, median of {len(latencies)}), {1000 * batched:.1f} ms per clip in batches of {len(windows)} (median of 3)")
    print(f"torch-cpu vs {onnx_pipe.backend}: max |p difference| {max_diff:.2e}, labels agree {agree}/{len(names)}")
    broken = []
    if agree != len(names) or max_diff > 1e-3:
        broken.append("torch and ONNX disagree")
    if correct < len(names) / 2:
        broken.append("fewer than half the notes were recognised")
    if broken:
        print("demo FAILED: " + "; ".join(broken), file=sys.stderr)
        return 1
    return 0
