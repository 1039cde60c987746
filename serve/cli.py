"""Commands ``audiofront serve`` (HTTP classification service) and ``audiofront triton``
(a Triton Inference Server model repository). Heavy imports happen inside the commands."""

from __future__ import annotations

import argparse
import sys

from audiofront.arguments import add_backend_argument, add_long_clips_argument, add_threads_argument
from audiofront.errors import BackendUnavailable

__all__ = ["register", "serve", "triton"]


def _default_model() -> str:
    from audiofront.models.cache import cached_pipeline_path

    cached = cached_pipeline_path()
    if cached.is_file():  # no torch needed
        return str(cached)
    from audiofront.models.piano import pipeline_onnx

    return str(pipeline_onnx())


def serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from audiofront.serve.server import ServeConfig, create_app
    except ImportError as exc:
        raise BackendUnavailable(f"audiofront serve needs the serve extra (pip install 'audiofront[serve]'): {exc}") from None
    from pathlib import Path

    from audiofront.runtime import Pipeline

    config = ServeConfig(max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, max_queue=args.max_queue,
                         max_body_mb=args.max_body_mb, max_seconds=args.max_seconds,
                         body_timeout_s=args.body_timeout_s)
    from audiofront.runtime.backends import runs

    if args.model is None and args.backend != "auto" and runs(args.backend, "torch"):
        # The shipped model also runs as its torch modules (torch-cpu/torch-cuda); artifacts are ONNX/engines.
        from audiofront.models.piano import load_pipeline

        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        model = "piano88"
        pipeline = load_pipeline(args.backend, long_clips=args.long_clips)
    else:
        model = args.model or _default_model()
        # The pipeline's own chunking must not split a micro-batch again.
        pipeline = Pipeline.load(model, backend=args.backend, max_batch_size=max(32, args.max_batch),
                                 intra_op_num_threads=args.threads, long_clips=args.long_clips)
    try:
        app = create_app(pipeline, config, model_name=Path(model).stem)
        print(f"audiofront serve: {model} on {pipeline.backend} ({pipeline.backend_reason}); "
              f"{pipeline.sample_rate} Hz, {pipeline.clip_samples}-sample windows, {pipeline.n_classes} classes, "
              f"long clips: {pipeline.long_clips}; "
              f"max_batch {config.max_batch}, max_wait {config.max_wait_ms:g} ms, max_queue {config.max_queue}",
              file=sys.stderr)
        print(f"listening on http://{args.host}:{args.port} (POST /v1/classify, GET /healthz, GET /metrics)",
              file=sys.stderr)
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, backlog=2048)
    finally:
        pipeline.close()
    return 0


def triton(args: argparse.Namespace) -> int:
    from audiofront.export.triton import write_model_repository

    model = args.model
    if model is None and not args.ensemble:
        model = _default_model()
    paths = write_model_repository(
        model, args.output, name=args.name, max_batch=args.max_batch, instances=args.instances, kind=args.kind,
        max_wait_ms=args.max_wait_ms, backend=args.backend, ensemble=args.ensemble, frontend=args.frontend, classifier=args.classifier,
        overwrite=args.force,
    )
    for path in paths:
        print(f"wrote {path} (checked as Triton checks it at load)")
    name = paths[0].parent.name
    repo = paths[0].parent.parent.resolve()
    if args.backend == "python":
        print(f"start: tritonserver --model-repository={repo} (any Triton with the python backend whose python3 "
              f"imports onnxruntime and numpy)")
    else:
        print(f"start (GPU): docker run --gpus all --rm -p8000:8000 -p8001:8001 -p8002:8002 -v {repo}:/models "
              f"nvcr.io/nvidia/tritonserver:24.10-py3 tritonserver --model-repository=/models")
    print(f"start (CPU, after pip install --no-deps nvidia-pytriton==0.7.0): python -m audiofront.serve.tritonserver "
          f"{repo}")
    print(f"then call model {name!r} (see docs/serving.md)")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve", help="HTTP classification service with micro-batching (FastAPI + uvicorn)",
        description="Serve a pipeline over HTTP: POST /v1/classify (audio file or raw float32 PCM), GET /healthz, "
                    "GET /metrics (Prometheus). Requests arriving together are micro-batched.",
    )
    p.add_argument("--model", default=None, help="pipeline artifact (.onnx or .engine); default: the shipped piano model")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=8000)
    add_backend_argument(p)
    add_long_clips_argument(p)
    p.add_argument("--max-batch", type=int, default=16, help="windows per predict call (default 16)")
    p.add_argument("--max-wait-ms", type=float, default=5.0, help="longest wait for batch-mates (default 5)")
    p.add_argument("--max-queue", type=int, default=256, help="requests in flight before 503 (default 256)")
    p.add_argument("--max-body-mb", type=float, default=32.0, help="largest request body in MiB (default 32)")
    p.add_argument("--max-seconds", type=float, default=60.0, help="longest clip in seconds (default 60)")
    p.add_argument("--body-timeout-s", type=float, default=10.0,
                   help="longest a request body may take to arrive before 408 (default 10)")
    add_threads_argument(p, what="onnxruntime intra-op threads, or torch threads for the shipped model on torch-*")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=serve)

    t = subparsers.add_parser(
        "triton", help="write a Triton Inference Server model repository",
        description="Write repo/NAME/config.pbtxt + repo/NAME/1/model.onnx for a pipeline ONNX, or (--ensemble) "
                    "a front-end -> classifier ensemble from --frontend and --classifier ONNX files.",
    )
    t.add_argument("--model", default=None, help="pipeline ONNX (kind=pipeline); default: the shipped piano model")
    t.add_argument("-o", "--output", required=True, help="repository folder (created)")
    t.add_argument("--name", default=None, help="model name in the repository (default: the file's stem)")
    t.add_argument("--ensemble", action="store_true", help="front-end and classifier as two models + an ensemble")
    t.add_argument("--frontend", default=None, help="front-end ONNX (kind=frontend), for --ensemble")
    t.add_argument("--classifier", default=None, help="classifier ONNX (kind=classifier), for --ensemble")
    t.add_argument("--max-batch", type=int, default=16, help="max_batch_size (default 16)")
    t.add_argument("--max-wait-ms", type=float, default=5.0, help="dynamic batching max queue delay (default 5)")
    t.add_argument("--instances", type=int, default=1, help="model instances per device (default 1)")
    t.add_argument("--kind", default="auto", choices=["auto", "KIND_AUTO", "KIND_GPU", "KIND_CPU"],
                   help="instance kind (default auto = KIND_AUTO: the server's GPUs if it has any, else CPU)")
    t.add_argument("--backend", default="onnxruntime", choices=["onnxruntime", "python"],
                   help="Triton backend: onnxruntime (default), or python (a model.py running onnxruntime, "
                        "for Triton installs without the onnxruntime backend, such as the pip server)")
    t.add_argument("--force", action="store_true", help="replace existing model folders")
    t.set_defaults(func=triton)
