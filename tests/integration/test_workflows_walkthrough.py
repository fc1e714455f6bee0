"""examples/workflows/README.md runs as written against a real ``lamina serve``.

The README's shell blocks run in order in one bash (``set -euo pipefail``) in a scratch
directory linking the repository's ``examples/`` and ``.venv/``; the block that starts
the server is the one not run (this test starts it on a free port, which replaces the
README's ``127.0.0.1:9000``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.events.live import client, start_server
from tests.integration.harness import LaminaProcess

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "examples" / "workflows" / "README.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    proc = start_server(tmp_path_factory.mktemp("workflow-walkthrough"))
    yield proc
    proc.stop()


def test_the_order_walkthrough_runs_as_written(server: LaminaProcess, tmp_path: Path) -> None:
    blocks = BLOCK.findall(README.read_text())
    assert [b for b in blocks if "lamina serve" in b] == [".venv/bin/lamina serve\n"]
    for name in ("examples", ".venv"):
        (tmp_path / name).symlink_to(ROOT / name)
    script = "\n".join(b for b in blocks if "lamina serve" not in b)
    script = script.replace("http://127.0.0.1:9000", server.endpoint)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMINA_"))}
    env["PYTHONPATH"] = str(ROOT)  # the CLI of this checkout, whichever the venv was made from
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, f"stdout:\n{out}\nstderr:\n{done.stderr}"

    sfn = client(server.endpoint, "stepfunctions")
    arn = "arn:aws:states:us-east-1:000000000000:execution:orders:"
    first = sfn.describe_execution(executionArn=arn + "order-1")
    assert first["status"] == "SUCCEEDED"
    assert json.loads(first["output"]) == {
        "orderId": "o-1", "status": "confirmed", "chargeId": "ch-o-1", "approvedBy": "ada"}  # fmt: skip
    assert '"reservationId": "rs-o-1"' in out and '"approvedBy": "ada"' in out  # the notification
    second = sfn.describe_execution(executionArn=arn + "order-2")
    assert (second["status"], second["error"]) == ("FAILED", "PaymentDeclined")
    assert second["cause"] == "2500.00 is over the card's limit of 1000.00"
    svg = (tmp_path / "order-1.svg").read_text()
    assert svg.startswith("<svg") and "order-1 — SUCCEEDED" in svg
    page = (tmp_path / "order-2.html").read_text()
    assert "order-2 — FAILED" in page
    assert re.search(r">ChargeAndReserve<.*?>caught · ", page, re.S)  # the box, not the legend
    assert re.search(r">Declined<.*?>failed<", page, re.S)
    # Inside the Parallel's box, the branch that failed: Charge, red.
    assert "<title>Charge: failed</title>" in page
