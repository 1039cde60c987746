"""Measure every reference preset against its reference (torch eager and exported on onnxruntime).

    .venv/bin/python scripts/presets_parity.py [NAME ...]

Prints the markdown table of docs/presets.md: the worst relative L2 and max abs error over the
parity tests' inputs (random, tonal, silent-tail items at each length), measured as the tests
measure them (log domain, bins within 80 dB of the item's peak). Needs the test extra.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

from audiofront.export import check_tensorrt, export_onnx  # noqa: E402
from tests.frontend import test_reference_presets as T  # noqa: E402
from tests.frontend.reference_signals import log_domain_errors  # noqa: E402


def measure(name: str, folder: Path) -> dict:
    module = T._module(name)
    path = export_onnx(module, folder / f"{name}.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = {"torch": [0.0, 0.0], "onnxruntime": [0.0, 0.0]}
    unit = T.UNITS.get(name, 1.0)
    for length in T.REFERENCES[name][1]:
        x, refs = T._inputs_and_references(name, length)
        with torch.no_grad():
            outs = {"torch": module(torch.from_numpy(x)).double().numpy(), "onnxruntime": session.run(None, {"audio": x})[0]}
        for backend, out in outs.items():
            for item, (ref, db) in zip(out, refs):
                rel, mx = log_domain_errors(item, ref, db, unit=unit)
                worst[backend] = [max(worst[backend][0], rel), max(worst[backend][1], mx)]
    return {"worst": worst, "tensorrt_ops": check_tensorrt(str(path)).ok, "shape": tuple(outs["torch"].shape[1:]),
            "lengths": T.REFERENCES[name][1]}


def main(names: list[str]) -> None:
    warnings.simplefilter("ignore")
    names = names or list(T.REFERENCES)
    print("| preset | model input (per item) | lengths (samples) | torch rel L2 / max abs | ORT rel L2 / max abs | TensorRT ops |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            t0 = time.time()
            r = measure(name, Path(tmp))
            w = r["worst"]
            print(f"| `{name}` | {r['shape']} | {', '.join(map(str, r['lengths']))} | {w['torch'][0]:.1e} / {w['torch'][1]:.1e} "
                  f"| {w['onnxruntime'][0]:.1e} / {w['onnxruntime'][1]:.1e} | {'yes' if r['tensorrt_ops'] else 'NO'} |",
                  flush=True)
            print(f"<!-- {name}: {time.time() - t0:.0f} s -->", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
