"""The functions the bench deploys, and the AWS figures their cold starts compare with.

Warm runs use a no-op per runtime: the Rust ``bootstrap`` from the hello-rust example
(the binary *is* the runtime, so there is no smaller Rust function) and one-line
Python and Node handlers built here. Cold runs use the example zips as they are, so the
figures are those of real, unmodified Lambda functions.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bench.server import ROOT

EXAMPLES = ROOT / "build" / "examples"


@dataclass(frozen=True, slots=True)
class AwsFigure:
    """lambda-perf's average Init Duration and max memory used at 128 MB (LAMBDA.md)."""

    label: str
    init_ms: float | None
    max_memory_mb: float | None


@dataclass(frozen=True, slots=True)
class BenchFunction:
    """One deployable function: where its code comes from and how it runs."""

    key: str  # short name in tables and function names
    label: str
    runtime: str
    handler: str
    zip_name: str | None = None  # a zip in build/examples/, else ``inline``
    inline: tuple[tuple[str, str], ...] = ()
    aws: AwsFigure | None = None
    runs_on: str = ""  # for provided.* functions: what their bootstrap starts

    def code(self) -> bytes:
        if self.zip_name is not None:
            path = EXAMPLES / self.zip_name
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path} is missing: build the examples first (bash scripts/build-examples.sh)"
                )
            return path.read_bytes()
        return zip_files(dict(self.inline))


def zip_files(files: dict[str, str]) -> bytes:
    """A deterministic zip of text files (fixed timestamps, sorted names)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o100644) << 16
            zf.writestr(info, files[name])
    return buf.getvalue()


RUST_AWS = AwsFigure("Rust (provided.al2023)", 15.5, 15.6)
PY312_AWS = AwsFigure("Python 3.12", 85.2, 37.0)
PY313_AWS = AwsFigure("Python 3.13", 91.1, 37.0)
NODE_AWS = AwsFigure("Node.js 22", 137.1, 75.0)

WARM_FUNCTIONS: tuple[BenchFunction, ...] = (
    BenchFunction("rust", "Rust bootstrap", "provided.al2023", "bootstrap", "hello-rust.zip"),
    BenchFunction(
        "python",
        "Python 3.11 no-op",
        "python3.11",
        "app.handler",
        inline=(("app.py", "def handler(event, context):\n    return {}\n"),),
    ),
    BenchFunction(
        "node",
        "Node 20 no-op",
        "nodejs20.x",
        "index.handler",
        inline=(("index.mjs", "export const handler = async () => ({});\n"),),
    ),
)

COLD_FUNCTIONS: tuple[BenchFunction, ...] = (
    BenchFunction(
        "hello-rust",
        "hello-rust",
        "provided.al2023",
        "bootstrap",
        "hello-rust.zip",
        aws=RUST_AWS,
        runs_on="Rust bootstrap",
    ),
    BenchFunction("hello-py311", "hello-python", "python3.11", "app.handler", "hello-python.zip"),
    BenchFunction(
        "hello-py312",
        "hello-python",
        "python3.12",
        "app.handler",
        "hello-python.zip",
        aws=PY312_AWS,
    ),
    BenchFunction(
        "hello-py313",
        "hello-python",
        "python3.13",
        "app.handler",
        "hello-python.zip",
        aws=PY313_AWS,
    ),
    BenchFunction(
        "hello-node", "hello-node", "nodejs20.x", "index.handler", "hello-node.zip", aws=NODE_AWS
    ),
    BenchFunction(
        "ric-python",
        "ric-python",
        "provided.al2023",
        "app.handler",
        "ric-python.zip",
        runs_on="python3 -m awslambdaric",
    ),
    BenchFunction(
        "ric-node",
        "ric-node",
        "provided.al2023",
        "index.handler",
        "ric-node.zip",
        runs_on="node aws-lambda-ric 3.3.0",
    ),
)


def missing_examples() -> list[Path]:
    """Example zips the bench needs that have not been built."""
    names = {f.zip_name for f in (*WARM_FUNCTIONS, *COLD_FUNCTIONS) if f.zip_name}
    return [EXAMPLES / n for n in sorted(names) if not (EXAMPLES / n).is_file()]
