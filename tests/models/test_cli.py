"""`audiofront classify` on files soundfile writes (wav/flac/ogg/mp3, several rates), bad input, and `audiofront demo`."""

import json

import numpy as np
import pytest
import soundfile as sf

from audiofront.cli import main
from audiofront.models.notes import midi_from_name
from audiofront.models.synth import melody

# (format, sample rate, note): rates other than the model's 16 kHz exercise resampling.
FORMATS = [("wav", 16000, "A4"), ("flac", 44100, "C4"), ("ogg", 22050, "E5"), ("mp3", 48000, "G3")]


def _note(name, rate, seconds=1.0, seed=0):
    return melody([midi_from_name(name)], rng=np.random.default_rng(seed), sample_rate=rate, note_seconds=seconds)


def _write(path, audio, rate):
    sf.write(str(path), audio, rate)
    return str(path)


@pytest.fixture(scope="module")
def good_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("classify")
    files = {}
    for fmt, rate, name in FORMATS:
        if fmt.upper() not in sf.available_formats():
            continue
        files[fmt] = (_write(folder / f"note.{fmt}", _note(name, rate), rate), name)
    return files


def test_every_format_is_read_resampled_and_named(piano_cache, good_files, capsys):
    assert {"wav", "flac", "ogg"} <= set(good_files)
    paths = [p for p, _ in good_files.values()]
    assert main(["classify", "--json", "--backend", "onnxruntime-cpu", *paths]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["backend"] == "onnxruntime-cpu"
    for (path, truth), entry in zip(good_files.values(), doc["results"]):
        assert entry["file"] == path and entry["error"] is None
        assert entry["top"][0]["label"] == truth, entry
        assert 0.0 < entry["top"][0]["probability"] <= 1.0


def test_text_output_names_notes_with_frequencies(piano_cache, good_files, capsys):
    path, truth = good_files["wav"]
    assert main(["classify", "--top-k", "2", "--backend", "torch-cpu", path]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(path) and "backend torch-cpu" in out[0]
    assert len(out) == 3 and out[1].split()[:3] == ["A4", "(440.0", "Hz)"]
    probs = [float(line.split()[-1]) for line in out[1:]]
    assert probs[0] >= probs[1]


def test_bad_files_get_a_message_each_and_the_rest_still_run(piano_cache, good_files, tmp_path, capsys):
    good, truth = good_files["wav"]
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(40)))
    silent = _write(tmp_path / "silent.wav", np.zeros(16000, np.float32), 16000)
    short = _write(tmp_path / "short.wav", _note("A4", 16000)[:800], 16000)  # 50 ms < one 128 ms frame
    low_rate = _write(tmp_path / "low.wav", (np.sin(np.arange(4000) * 0.7) * 0.3).astype(np.float32), 4000)
    nan = tmp_path / "nan.wav"
    sf.write(str(nan), np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT")
    missing = str(tmp_path / "missing.wav")
    argv = ["classify", "--backend", "onnxruntime-cpu", missing, str(corrupt), silent, good, short, low_rate, str(nan)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert len(errors) == 4, captured.err
    by_file = {line.split(": ")[1]: line for line in errors}
    assert "no such file" in by_file[missing]
    assert "cannot read" in by_file[str(corrupt)]
    # Silence and a clip shorter than a window are classified, as Pipeline and the service do
    # (tests/models/test_faults.py compares the three).
    assert silent not in by_file and short not in by_file
    assert "4000 Hz" in by_file[low_rate] and "8000" in by_file[low_rate]
    assert "NaN" in by_file[str(nan)]
    # The good file in the middle was still classified.
    heads = [line for line in captured.out.splitlines() if not line.startswith(" ")]
    assert [h.split(" (")[0] for h in heads] == [silent, good, short]
    good_lines = captured.out.splitlines()[captured.out.splitlines().index(heads[1]) + 1]
    assert good_lines.split()[0] == truth


def test_json_reports_errors_per_file(piano_cache, good_files, tmp_path, capsys):
    silent = tmp_path / "nan.wav"  # an unclassifiable file (silence is classified)
    sf.write(str(silent), np.full(8000, np.nan, np.float32), 16000, subtype="FLOAT")
    silent = str(silent)
    good, truth = good_files["flac"]
    assert main(["classify", "--json", silent, good]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["results"][0]["error"] and doc["results"][0]["top"] == []
    assert doc["results"][1]["error"] is None and doc["results"][1]["top"][0]["label"] == truth


def test_demo_runs_and_agrees(piano_cache, tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "demo-melody.wav").is_file()
    assert str(tmp_path / "demo-melody.wav") in out
    assert "labels agree 19/19" in out
    right = int(out.split("notes right: ")[1].split("/")[0])
    assert right >= 15, out


def test_demo_rejects_bad_notes(capsys):
    assert main(["demo", "--notes", "H9"]) == 1
    assert "note name" in capsys.readouterr().err
