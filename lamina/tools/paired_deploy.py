"""``lamina compare`` on functions that are not there yet: the paired examples, deployed.

``lamina compare orders-py orders-rs`` names two of the paired examples
(``examples/paired``). When they are missing the command either deploys them from their
built zips (``--deploy-examples``) or says exactly how to; and when both name one
workload and no payload was given, that workload's own event is the payload (an empty
event would measure two functions answering 400 at the same speed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lamina.client.http import ClientError
from lamina.client.lambda_api import LambdaClient
from lamina.tools.workloads import PairedWorkload, paired_example

BUILD = "bash scripts/build-examples.sh --paired"
# A size the slowest example (the Python thumbnailer) finishes at well within the timeout.
DEPLOY_MEMORY_MB = 1024
DEPLOY_TIMEOUT_S = 60


@dataclass(frozen=True, slots=True)
class Prepared:
    deployed: tuple[str, ...]
    workload: PairedWorkload | None  # set when both functions are one paired workload


def prepare_pair(
    api: LambdaClient, names: tuple[str, str], examples: Path, *, deploy: bool
) -> Prepared:
    """Make sure both functions exist, deploying paired examples if asked; else say how."""
    known = [paired_example(n) for n in names]
    missing = [(n, k) for n, k in zip(names, known, strict=True) if not api.exists(n)]
    for name, example in missing:
        if example is None:
            raise ClientError(
                f"function {name} does not exist on {api.client.endpoint}: deploy it first "
                f"(lamina deploy DIR --name {name})"
            )
    if missing and not deploy:
        what = " and ".join(n for n, _ in missing)
        raise ClientError(
            f"{what} {'does' if len(missing) == 1 else 'do'} not exist on "
            f"{api.client.endpoint}. They are paired examples (examples/paired): add "
            f"--deploy-examples and compare deploys them from {examples}/paired-*.zip "
            f"(build those with `{BUILD}`), or deploy them as examples/paired/README.md shows"
        )
    deployed = []
    for name, example in missing:
        assert example is not None
        impl = example[1]
        package = examples / impl.zip_name
        if not package.is_file():
            raise ClientError(
                f"{package} is missing: build the paired examples first with `{BUILD}` "
                "(in a Lamina checkout), or pass --examples DIR"
            )
        api.create_function(
            name,
            package.read_bytes(),
            impl.runtime,
            impl.handler,
            DEPLOY_MEMORY_MB,
            timeout_s=DEPLOY_TIMEOUT_S,
        )
        deployed.append(name)
    a, b = known
    same = a is not None and b is not None and a[0].key == b[0].key and a[1] != b[1]
    return Prepared(tuple(deployed), a[0] if same and a is not None else None)
