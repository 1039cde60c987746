"""``audiofront export``: a front-end (preset or JSON config) to ONNX, optionally prepended to a
classifier ONNX and built into a TensorRT engine.

    audiofront export --preset kapre-logmel -o logmel.onnx
    audiofront export --preset ast --classifier ast.onnx -o pipe.onnx      # presets: docs/presets.md
    audiofront export --config fe.json --classifier cnn.onnx -o pipeline.onnx [--labels labels.txt]
    audiofront export --preset kapre-logmel -o logmel.onnx --engine logmel.engine --fp16
    audiofront export-classifier --onnx cnn.onnx --frontend logmel.onnx --labels labels.txt -o cls.onnx

It prints what it wrote, the graph hygiene and TensorRT op-check tables, and the ORT-vs-torch
parity of the front-end (angles compared modulo 2 pi). An op TensorRT does not take fails the
command (exit 1, outputs removed) unless ``--allow-unsupported``; so does a parity mismatch, a
failed engine build or fp16 conversion. ``--fp16`` without ``--engine`` writes an ONNX variant
``<out>.fp16.onnx`` for ONNX Runtime CUDA (front-end fp32, classifier fp16). ``--sample-rate``
sets the rate of a preset, or of a config's modules that take one (it must agree with a rate
the config gives). A missing output folder is created (and the command says so).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register", "run", "run_classifier"]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="export a front-end to ONNX (optionally + classifier, + TensorRT engine)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", metavar="NAME", help="a named front-end (see audiofront.frontend.PRESETS)")
    source.add_argument("--config", metavar="FILE", help="a JSON front-end description (audiofront.export.config)")
    parser.add_argument("--sample-rate", type=int, default=None,
                        help="sample rate of the front-end (--preset, or --config modules that take one)")
    parser.add_argument("--classifier", metavar="ONNX", help="prepend the front-end to this classifier")
    parser.add_argument("--layout", default="auto", help="classifier input layout, e.g. batch,1,bins,frames (default auto)")
    parser.add_argument("--labels", metavar="FILE", help="class names: a JSON list or one per line")
    parser.add_argument("-o", "--output", required=True, metavar="ONNX", help="where to write the ONNX graph")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    parser.add_argument("--engine", metavar="FILE", help="also build a TensorRT engine here")
    parser.add_argument("--fp16", action="store_true", help="fp16 engine (or fp16 ONNX variant without --engine)")
    parser.add_argument("--allow-unsupported", action="store_true", help="keep going when TensorRT lacks an op")
    parser.set_defaults(func=run)

    parser = subparsers.add_parser(
        "export-classifier", help="write a classifier as ONNX with kind=classifier metadata (for Triton ensembles)",
        description="Check a classifier against the front-end it sits behind and write it as an ONNX file with the "
        "metadata contract's kind=classifier keys (sample rate, bins, frames, layout, labels, clip), atomically. "
        "The classifier is an ONNX file (--onnx) or a torch module (--module pkg.mod:factory [--weights state.pt]). "
        "audiofront triton --ensemble and audiofront export --classifier take the result.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--onnx", metavar="FILE", help="a classifier ONNX taking the features")
    source.add_argument("--module", metavar="MODULE:CALLABLE", help="a callable returning the torch classifier")
    parser.add_argument("--weights", metavar="FILE", help="a state_dict for --module (torch.load, weights only)")
    parser.add_argument("--frontend", required=True, metavar="ONNX", help="the front-end ONNX it sits behind")
    parser.add_argument("--labels", required=True, metavar="FILE", help="class names: a JSON list or one per line")
    parser.add_argument("--layout", default="batch,1,bins,frames",
                        help="the classifier's input layout (default batch,1,bins,frames)")
    parser.add_argument("--clip-samples", type=int, default=None, help="audio samples per window (default 1 s)")
    parser.add_argument("--output", choices=("logits", "probabilities"), default=None,
                        help="what it gives (default: probabilities when rows sum to 1, else logits)")
    parser.add_argument("-o", "--out", required=True, metavar="ONNX", help="where to write it")
    parser.set_defaults(func=run_classifier)


def _labels(path: str | None) -> list[str] | None:
    if path is None:
        return None
    from audiofront.errors import ConfigError

    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"--labels file {path!r} cannot be read: {exc}") from None
    if text.lstrip().startswith("["):
        try:
            labels = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"--labels file {path!r} is not a valid JSON list: {exc}") from None
        return [str(label) for label in labels]
    return [line.strip() for line in text.splitlines() if line.strip()]


def _config_with_rate(path: str, rate: int | None):
    """The config at ``path`` (a dict), with ``rate`` given to every module that takes a sample rate."""
    import inspect

    from audiofront import frontend
    from audiofront.errors import ConfigError

    if rate is None:
        return path
    if rate <= 0:
        raise ConfigError(f"--sample-rate must be a positive integer, got {rate}")
    try:
        config = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path!r} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"config file {path!r} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        return path  # frontend_from_config gives the error
    if config.get("sample_rate", rate) != rate:
        raise ConfigError(f"--sample-rate {rate} disagrees with sample_rate {config['sample_rate']} in {path!r}")
    config["sample_rate"] = rate
    config.setdefault("name", Path(path).stem)
    steps = config["chain"] if isinstance(config.get("chain"), list) else [config]
    for i, step in enumerate(steps):
        kind = step.get("type") if isinstance(step, dict) else None
        cls = getattr(frontend, kind, None) if isinstance(kind, str) else None
        if cls is None or "sample_rate" not in inspect.signature(cls).parameters:
            continue
        args = step.setdefault("args", {})
        if isinstance(args, dict):
            if args.get("sample_rate", rate) != rate:
                raise ConfigError(f"--sample-rate {rate} disagrees with sample_rate {args['sample_rate']} of "
                                  f"step {i} ({kind}) in {path!r}")
            args["sample_rate"] = rate
    return config


def _remove(*paths: Path) -> None:
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def run(args) -> int:
    from audiofront.export import check_graph, check_tensorrt, export_onnx, prepend, read_metadata, torch_parity
    from audiofront.export.config import frontend_from_config
    from audiofront.export.artifacts import load_onnx
    from audiofront.frontend import preset

    # Fail before writing anything when an input or a backend is missing.
    if args.fp16 and not args.engine and not args.classifier:
        from audiofront.errors import ConfigError

        raise ConfigError("--fp16 without --engine makes an fp16 pipeline variant: it needs --classifier "
                          "(a bare front-end stays fp32)")
    if args.classifier:
        load_onnx(args.classifier, what="classifier")
    if args.engine:
        from audiofront.export.engine import import_tensorrt

        import_tensorrt()
    elif args.fp16:
        from audiofront.export.fp16 import _converter

        _converter()  # onnxconverter-common missing: say so before writing anything
    if args.preset is not None:
        from audiofront.frontend.reference_presets import REFERENCE_PRESETS

        # A reference preset's rate is its model's: --sample-rate may only confirm it.
        fixed_rate = args.preset in REFERENCE_PRESETS
        kwargs = {"sample_rate": args.sample_rate} if args.sample_rate and not fixed_rate else {}
        module = preset(args.preset, **kwargs)
        if fixed_rate and args.sample_rate and args.sample_rate != module.sample_rate:
            from audiofront.errors import ConfigError

            raise ConfigError(f"--sample-rate {args.sample_rate}: preset {args.preset!r} runs at {module.sample_rate} Hz "
                              "(its model's rate); resample the audio instead")
    else:
        module = frontend_from_config(_config_with_rate(args.config, args.sample_rate))
    out = Path(args.output)
    if not out.parent.exists():
        out.parent.mkdir(parents=True)
        print(f"created folder {out.parent}")
    written: list[Path] = []
    if args.classifier:
        frontend_path = out.with_name(out.stem + ".frontend.onnx")
        export_onnx(module, frontend_path, opset=args.opset)
        written.append(frontend_path)
        try:
            prepend(frontend_path, args.classifier, out, layout=args.layout, labels=_labels(args.labels))
        except Exception:
            _remove(*written)
            raise
    else:
        frontend_path = out
        export_onnx(module, out, opset=args.opset)
    written.append(out)

    meta = read_metadata(out)
    for path in written:
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    print("metadata: " + ", ".join(f"{k.removeprefix('audiofront.')}={v}" for k, v in meta.items()))
    print(check_graph(frontend_path))
    report = check_tensorrt(out)
    print(report)
    parity = torch_parity(frontend_path, module, sample_rate=module.sample_rate)
    print(parity)
    if not parity.ok:
        _remove(*written)
        print("audiofront export: the front-end graph does not give torch's numbers; removed the outputs")
        return 1
    if not report.ok and not args.allow_unsupported:
        _remove(*written)
        print(f"audiofront export: TensorRT does not take {', '.join(report.unsupported) or 'this graph'}; "
              "removed the outputs (pass --allow-unsupported to keep them)")
        return 1

    # A failed engine build or fp16 conversion leaves none of this command's files behind.
    try:
        if args.engine:
            from audiofront.export.engine import build_engine

            engine = build_engine(out, args.engine, precision="fp16" if args.fp16 else "fp32",
                                  timing_cache=str(args.engine) + ".timing")
            print(f"wrote {engine} and {engine}.json")
        elif args.fp16:
            from audiofront.export.fp16 import to_fp16

            variant = to_fp16(out, out.with_name(out.stem + ".fp16.onnx"))
            print(f"wrote {variant} (front-end fp32, classifier fp16)")
    except BaseException:
        _remove(*written)
        raise
    return 0


def _load_module(spec: str, weights: str | None):
    import importlib

    from audiofront.errors import ConfigError

    name, _, attr = spec.partition(":")
    if not name or not attr:
        raise ConfigError(f"--module must be MODULE:CALLABLE (e.g. mypkg.models:make_classifier), got {spec!r}")
    try:
        factory = getattr(importlib.import_module(name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"--module {spec!r} cannot be loaded: {exc}") from None
    module = factory()
    if weights:
        import torch

        try:
            module.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        except (OSError, RuntimeError) as exc:
            raise ConfigError(f"--weights {weights!r} do not load into {spec}: {exc}") from None
    return module


def run_classifier(args) -> int:
    from audiofront.export.classifier import export_classifier
    from audiofront.export.metadata import read_metadata

    classifier = args.onnx if args.onnx else _load_module(args.module, args.weights)
    out = export_classifier(classifier, args.out, frontend=args.frontend, labels=_labels(args.labels),
                            layout=args.layout, clip_samples=args.clip_samples, output=args.output)
    meta = read_metadata(out)
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")
    print("metadata: " + ", ".join(f"{k.removeprefix('audiofront.')}={v}" for k, v in meta.items()))
    return 0
