"""``lamina up``'s engine run by the server for CloudFormation change sets (``sam deploy``).

The server's :class:`~lamina.services.cloudformation.engine.StackEngine` calls this
:class:`~lamina.services.cloudformation.engine.Deployer` on its worker thread. It reaches the
server's own services over HTTP on the loopback endpoint, signed with the operator's key
(:meth:`Settings.credentials`), exactly as ``lamina up`` does from a client: the same
translate → plan → apply, the same stack state (kept in the data directory, not a project),
the same removal as ``lamina down``. The code is the zips ``sam package`` uploaded to
Lamina's S3, deployed as they are (no rebuild, no ``pip install``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from lamina.client.boto import BotoClients
from lamina.config import Settings
from lamina.errors import LaminaError
from lamina.sam.deploy import Project, deploy
from lamina.sam.down import remove_stack
from lamina.sam.observe import describe_error
from lamina.sam.record import stack_record
from lamina.sam.template import load_template
from lamina.sam.translate import translate
from lamina.sam.yamltags import parse_template_text
from lamina.services.cloudformation.engine import Deployer, DeploymentFailed

log = logging.getLogger(__name__)
MAX_ARTIFACT_BYTES = 256 * 1024 * 1024  # one zip (Lambda's unzipped limit is 250 MB)
CHUNK = 1024 * 1024


class ServerDeployer:
    def __init__(self, endpoint: Callable[[], str], settings: Settings) -> None:
        self.endpoint = endpoint
        self.settings = settings

    def _clients(self) -> BotoClients:
        return BotoClients(self.endpoint(), self.settings.region, self.settings.credentials())

    def _project(self, template: Path, stack: str, state: Path, params: dict[str, str]) -> Project:
        return Project(
            template=template,
            endpoint=self.endpoint(),
            settings=self.settings,
            stack=stack,
            overrides=dict(params),
            state_file=state,
            record=False,
        )

    # -- S3 --------------------------------------------------------------------------------
    def _object(self, bucket: str, key: str, limit: int) -> Any:
        s3 = self._clients()("s3")
        try:
            size = int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
            if size > limit:
                raise DeploymentFailed(
                    f"s3://{bucket}/{key} is {size} bytes: at most {limit} can be deployed"
                )
            return s3.get_object(Bucket=bucket, Key=key)["Body"]
        except (BotoCoreError, ClientError) as exc:
            raise DeploymentFailed(
                f"cannot read s3://{bucket}/{key}: {describe_error(exc)}"
            ) from None

    def read_object(self, bucket: str, key: str, limit: int) -> bytes:
        body = self._object(bucket, key, limit)
        data: bytes = body.read(limit + 1)
        if len(data) > limit:
            raise DeploymentFailed(f"s3://{bucket}/{key} is over {limit} bytes")
        return data

    def download(self, bucket: str, key: str, path: Path) -> None:
        body = self._object(bucket, key, MAX_ARTIFACT_BYTES)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            while chunk := body.read(CHUNK):
                out.write(chunk)

    # -- templates -------------------------------------------------------------------------
    def parse(self, text: str) -> dict[str, Any]:
        try:
            return parse_template_text(text, "template")
        except LaminaError as exc:
            raise DeploymentFailed(f"Template format error: {exc}") from None

    def stage(self, workdir: Path, stack: str, parameters: dict[str, str]) -> None:
        settings = self.settings
        try:
            template = load_template(workdir / "template.json")
            translate(
                template,
                stack=stack,
                region=settings.region,
                account=settings.account_id,
                endpoint_host=urlsplit(self.endpoint()).netloc,
                overrides=dict(parameters),
            )
        except LaminaError as exc:
            raise DeploymentFailed(f"Template error: {exc}") from None

    # -- deploying and removing --------------------------------------------------------------
    def deploy(
        self, workdir: Path, stack: str, parameters: dict[str, str], state: Path
    ) -> dict[str, Any]:
        project = self._project(workdir / "template.json", stack, state, parameters)
        try:
            result = deploy(project, clients=self._clients(), progress=log.info)
        except LaminaError as exc:
            raise DeploymentFailed(str(exc)) from None
        except (BotoCoreError, ClientError) as exc:
            raise DeploymentFailed(describe_error(exc)) from None
        doc = stack_record(result, project.template)
        reasons = [f"{lid}: {why}" for lid, why in result.build_errors.items()]
        reasons += [f"{o.action.name}: {o.error}" for o in result.applied.failed]
        doc["Failure"] = "; ".join(reasons)
        return doc

    def remove(self, stack: str, state: Path) -> str:
        project = self._project(state.parent / "template.json", stack, state, {})
        try:
            applied = remove_stack(project, self._clients(), progress=log.info)
        except LaminaError as exc:
            return str(exc)
        except (BotoCoreError, ClientError) as exc:
            return describe_error(exc)
        return "; ".join(f"{o.action.name}: {o.error}" for o in applied.failed)


def server_deployer(settings: Settings) -> Callable[[Callable[[], str]], Deployer]:
    """What ``lamina serve`` gives the server: a deployer reaching it at its endpoint."""
    return lambda endpoint: ServerDeployer(endpoint, settings)
