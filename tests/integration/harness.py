"""Run a real Lamina server in a subprocess and drive it with boto3, as users do."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from lamina.client.http import Client
from tests.trust import LAMBDA_TRUST

ROOT = Path(__file__).resolve().parents[2]
AWS = str(Path(sys.executable).with_name("aws"))  # the AWS CLI of the test environment
# The documented dev key pair: what a server without LAMINA_ACCESS_KEYS accepts.
DEV_KEY, DEV_SECRET = "AKIDLAMINA", "lamina-secret"
EXAMPLES = ROOT / "build" / "examples"
OUTPUT_LINES = 10_000  # the server's last log lines a test can read (LaminaProcess.output)
REPORT = re.compile(
    r"^REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: (?P<duration>\d+\.\d{2}) ms\t"
    r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: (?P<memory>\d+) MB\t"
    r"Max Memory Used: (?P<max>\d+) MB\t(?:Init Duration: (?P<init>\d+\.\d{2}) ms\t)?"
    r"(?:Restore Duration: (?P<restore>\d+\.\d{2}) ms\t"
    r"Billed Restore Duration: (?P<billed_restore>\d+) ms\t)?$"
)


def zip_files(files: dict[str, str | bytes], executable: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            mode = 0o755 if name in executable else 0o644
            info.external_attr = (0o100000 | mode) << 16
            data = content.encode() if isinstance(content, str) else content
            zf.writestr(info, data)
    return buf.getvalue()


def python_zip(source: str, module: str = "app") -> bytes:
    return zip_files({f"{module}.py": textwrap.dedent(source)})


@dataclass
class Invocation:
    status: int
    payload: bytes
    function_error: str | None
    log: str
    executed_version: str | None

    def json(self) -> Any:
        return json.loads(self.payload)

    def report(self) -> dict[str, str | None]:
        for line in self.log.splitlines():
            m = REPORT.match(line)
            if m:
                return m.groupdict()
        raise AssertionError(f"no REPORT line in log tail:\n{self.log}")


@dataclass
class LaminaProcess:
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None
    endpoint: str = ""
    output: list[str] = field(default_factory=list)  # the server's log, read as it comes
    _reader: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> LaminaProcess:
        """Start the server and return once it serves (RuntimeError if it does not within
        a minute). Its log (stdout and stderr) is read for its whole life into
        :attr:`output`: a pipe nobody reads fills up (64 KiB), and the server's next log
        call would then block its event loop, stalling every request and invoke."""
        env = {**os.environ, **self.env}
        self.endpoint = ""
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lamina.cli.main",
                "serve",
                "--port",
                "0",
                "--data-dir",
                str(self.data_dir),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=ROOT,
        )
        serving = threading.Event()
        self._reader = threading.Thread(
            target=self._read_output,
            args=(self.proc, serving),
            name="lamina-output",
            daemon=True,
        )
        self._reader.start()
        serving.wait(timeout=60)
        if not self.endpoint:
            self.stop()
            raise RuntimeError("Lamina did not start:\n" + "".join(self.output))
        return self

    def _read_output(self, proc: subprocess.Popen[str], serving: threading.Event) -> None:
        """Append the server's lines to :attr:`output` (the last ``OUTPUT_LINES`` of them)
        until it closes its end; ``serving`` is set once it says where it serves, or at
        its end."""
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                self.output.append(line)
                if len(self.output) > 2 * OUTPUT_LINES:
                    del self.output[:-OUTPUT_LINES]
                if not serving.is_set():
                    m = re.search(r"Lamina serving on (http://\S+)", line)
                    if m:
                        self.endpoint = m.group(1)
                        serving.set()
        finally:
            serving.set()

    def stop(self) -> None:
        """SIGTERM the server (SIGKILL after 30 s) and wait until all it logged is in
        :attr:`output`."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._reader is not None:
            # EOF comes when the server and everything that inherited its pipe are gone.
            self._reader.join(timeout=10)
            self._reader = None

    def lambda_client(self, read_timeout: int = 120) -> Any:
        return aws_client(self, "lambda", read_timeout=read_timeout, connect_timeout=10)

    # -- helpers the tests share ---------------------------------------------------------
    def create(
        self,
        name: str,
        code: bytes,
        runtime: str = "python3.11",
        handler: str = "app.handler",
        **extra: Any,
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.lambda_client().create_function(
            FunctionName=name,
            Runtime=runtime,
            Handler=handler,
            Code={"ZipFile": code},
            Role="arn:aws:iam::000000000000:role/lambda-role",
            **extra,
        )
        return result

    def invoke(
        self,
        name: str,
        payload: object | None = None,
        tail: bool = True,
        client: Any = None,
        **extra: Any,
    ) -> Invocation:
        c = client or self.lambda_client()
        kwargs: dict[str, Any] = {"FunctionName": name, "LogType": "Tail" if tail else "None"}
        if payload is not None:
            kwargs["Payload"] = json.dumps(payload).encode()
        kwargs.update(extra)
        out = c.invoke(**kwargs)
        log = base64.b64decode(out.get("LogResult", "")).decode() if "LogResult" in out else ""
        return Invocation(
            out["StatusCode"],
            out["Payload"].read(),
            out.get("FunctionError"),
            log,
            out.get("ExecutedVersion"),
        )


def aws_client(
    server: LaminaProcess,
    service: str,
    key: str = DEV_KEY,
    secret: str = DEV_SECRET,
    **config: Any,
) -> Any:
    """A boto3 client of ``service`` on the server, signed with ``key``/``secret`` (the dev
    pair unless given), never retrying; ``config`` adds to botocore's ``Config``."""
    return boto3.client(
        service,
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 0}, **config),
    )


@contextmanager
def running_lamina(data_dir: Path, **env: str) -> Iterator[LaminaProcess]:
    """A server on ``data_dir`` with the ``LAMINA_*`` variables ``env``, stopped on exit
    (a module fixture's body: ``with running_lamina(...) as proc: yield proc``)."""
    proc = LaminaProcess(data_dir, dict(env)).start()
    try:
        yield proc
    finally:
        proc.stop()


@contextmanager
def signed_lamina(
    data_dir: Path, key: str, secret: str, role: str | None = None, **env: str
) -> Iterator[LaminaProcess]:
    """A server with the one access key pair ``key``/``secret`` (signed mode), stopped on
    exit; with ``role``, that execution role is created first (a function's ``Role`` must
    exist once keys are configured)."""
    with running_lamina(data_dir, LAMINA_ACCESS_KEYS=f"{key}:{secret}", **env) as proc:
        if role is not None:
            create_role(proc, key, secret, role)
        yield proc


def create_role(server: LaminaProcess, key: str, secret: str, name: str) -> str:
    """Create an execution role with no policies and return its ARN: with keys configured,
    a function's ``Role`` must name a role that exists, as on AWS."""
    iam = aws_client(server, "iam", key, secret)
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST)
    return str(role["Role"]["Arn"])


def unvalidated_client(server: LaminaProcess) -> Any:
    """A boto3 Lambda client that sends out-of-range values instead of refusing them
    locally, so Lamina's own validation answers."""
    return aws_client(server, "lambda", parameter_validation=False)


def aws_cli(
    server: LaminaProcess,
    home: Path,
    *args: str,
    key: str = DEV_KEY,
    secret: str = DEV_SECRET,
    region: str = "us-east-1",
) -> subprocess.CompletedProcess[str]:
    """Run the AWS CLI (``aws <args>``) against the server, JSON out, one attempt, with the
    credentials and region from its environment only: no config file, ``home`` as HOME."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": str(home / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"),
        "AWS_MAX_ATTEMPTS": "1",
    }
    return subprocess.run(
        [AWS, "--endpoint-url", server.endpoint, "--output", "json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def lamina_cli(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``lamina <args>`` from this checkout in a child process (``env`` added to the
    test's environment), its output captured; the exit status is the caller's to check."""
    return subprocess.run(
        [sys.executable, "-m", "lamina.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env} if env else None,
        timeout=timeout,
        check=False,
    )


def cli_json(result: subprocess.CompletedProcess[str]) -> Any:
    """What a successful AWS CLI call printed, as JSON (None when it printed nothing)."""
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else None


def log_text(server: LaminaProcess, name: str) -> str:
    """A function's log as the server stores it, one line per event."""
    events = Client(server.endpoint).call("GET", f"/lamina/v1/functions/{name}/logs")["events"]
    return "\n".join(e["message"] for e in events)


def wait_for_text(what: Callable[[], str], needle: str, timeout: float = 20.0) -> str:
    """The text ``what()`` gives once it holds ``needle``; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        text = what()
        if needle in text:
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} never appeared in:\n{text}")
        time.sleep(0.05)


def api_error(call: Callable[[], object]) -> tuple[str, int, str]:
    """Run ``call``, which must fail; return (error code, HTTP status, message)."""
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response
    return (
        str(err["Error"]["Code"]),
        int(err["ResponseMetadata"]["HTTPStatusCode"]),
        str(err["Error"].get("Message", "")),
    )
