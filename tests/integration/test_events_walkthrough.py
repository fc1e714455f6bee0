"""examples/events/README.md runs as written against a real ``lamina serve``.

The README's shell blocks are run in order by one bash (``set -euo pipefail``) in a
scratch directory that links the repository's ``build/``, ``examples/`` and ``.venv/``,
so its relative paths work and the files it makes (``picture.png``...) stay out of the
tree. The block that starts the server is the one thing not run: this test starts the
server itself with the same routes file, on free ports (the README's ``127.0.0.1:9000``
and ``:9001`` are replaced by them) and with ``LAMINA_SCHEDULE_TIME_SCALE=60``, which the
README suggests for watching the schedule without waiting.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.events.live import client, routes_endpoint, start_server
from tests.integration.harness import LaminaProcess

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "examples" / "events" / "README.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)


def readme_blocks() -> list[str]:
    return BLOCK.findall(README.read_text())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    subprocess.run(["bash", "examples/events/build.sh"], cwd=ROOT, check=True)
    data = tmp_path_factory.mktemp("walkthrough-data")
    server = start_server(
        data,
        {
            "LAMINA_HTTP_ROUTES_FILE": "examples/events/http-api/routes.json",
            "LAMINA_HTTP_ROUTES_PORT": "0",
            "LAMINA_SCHEDULE_TIME_SCALE": "60",
        },
    )
    yield server
    server.stop()


def test_the_readme_starts_the_server_with_the_routes_file() -> None:
    starts = [b for b in readme_blocks() if "lamina serve" in b]
    assert starts == [
        "LAMINA_HTTP_ROUTES_FILE=examples/events/http-api/routes.json .venv/bin/lamina serve\n"
    ]


def test_the_walkthrough_runs_as_written(server: LaminaProcess, tmp_path: Path) -> None:
    for name in ("build", "examples", ".venv"):
        (tmp_path / name).symlink_to(ROOT / name)
    script = "\n".join(b for b in readme_blocks() if "lamina serve" not in b)
    script = script.replace("http://127.0.0.1:9000", server.endpoint).replace(
        "http://127.0.0.1:9001", routes_endpoint(server)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMINA_"))}
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, f"stdout:\n{out}\nstderr:\n{done.stderr}"

    # the HTTP API, through the routes and through the function URL
    lines = out.splitlines()
    assert lines.count('{"id": "1", "name": "teapot"}') == 2  # by route, then by URL
    assert re.search(r"^HTTP/1\.1 201", out, re.M)
    assert re.search(r"^set-cookie: last-created=2; Path=/", out, re.M | re.I)
    assert '[{"id": "1", "name": "teapot"}, {"id": "2", "name": "kettle"}]' in out
    assert re.search(rf"^{re.escape(server.endpoint)}/lambda-url/[a-z0-9]{{32}}/$", out, re.M)

    # the thumbnail, made by the function with the runtime's boto3
    with Image.open(tmp_path / "thumbnail.jpg") as img:
        assert img.format == "JPEG" and img.size == (128, 96)
    s3 = client(server.endpoint, "s3")
    listed = s3.list_objects_v2(Bucket="photos-thumbnails")["Contents"]
    assert [o["Key"] for o in listed] == ["holiday/picture.png"]
    with Image.open(
        io.BytesIO(s3.get_object(Bucket="photos", Key="holiday/picture.png")["Body"].read())
    ) as original:
        assert original.size == (640, 480)

    # the queue consumer: order 2 went to the DLQ, order 1 was processed once
    assert '{"id": 2, "amount": -5}' in out
    assert "processed order 1: 10" in out
    assert "processed order 2" not in out
    sqs = client(server.endpoint, "sqs")
    url = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
    left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (left["ApproximateNumberOfMessages"], left["ApproximateNumberOfMessagesNotVisible"]) == (
        "0",
        "0",
    )

    # the scheduled job ran from the every-minute rule and its record reached the queue
    assert '"condition":"Success"' in out and '"rule":"every-minute"' in out
    rules = client(server.endpoint, "events").list_rules()["Rules"]
    assert {r["Name"]: r["State"] for r in rules} == {
        "nightly-cleanup": "ENABLED",
        "every-minute": "DISABLED",
    }
