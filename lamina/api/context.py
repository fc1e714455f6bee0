"""What every operation handler needs: the core's parts, the settings, and shared helpers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.api import sigv4
from lamina.api.shapes import function_configuration
from lamina.arns import function_arn
from lamina.billing.ledger import Ledger
from lamina.config import Settings
from lamina.functions import Functions
from lamina.models.environments import EnvironmentsView
from lamina.models.function import FunctionConfig
from lamina.scheduler.driver import Scheduler
from lamina.store.resource_tags import ResourceTags
from lamina.wire.http import Request
from lamina.wire.server import Response

# An operation: the parsed request and its path parameters → an answer (maybe awaited).
Handler = Callable[[Request, dict[str, str]], "Response | Coroutine[Any, Any, Response]"]

CODE_URL_EXPIRES_S = 600  # Lambda's Code.Location is valid for 10 minutes


@dataclass
class ApiContext:
    functions: Functions
    scheduler: Scheduler
    ledger: Ledger
    settings: Settings
    clock: Callable[[], float] = field(default=time.time)
    # Where the embedded S3 keeps an object's bytes (set once the event sources attach).
    s3_blob: Callable[[str, str], Path] | None = None
    # Tags of event source mappings (set once the event sources attach).
    resource_tags: ResourceTags | None = None
    # Refuses an execution role Lambda could not assume (IAM's, when the server has it).
    check_role: Callable[[str], None] | None = None
    # On a cluster: the nodes' environments (the scheduler's own pool is empty there).
    environments: Callable[[], Awaitable[EnvironmentsView]] | None = None

    def named_role(self, body: dict[str, Any]) -> None:
        """Check the ``Role`` a CreateFunction/UpdateFunctionConfiguration body names (an
        omitted Role keeps Lamina's default and is not checked)."""
        role = body.get("Role")
        if self.check_role is not None and isinstance(role, str):
            self.check_role(role)

    @property
    def region(self) -> str:
        return self.settings.region

    @property
    def account(self) -> str:
        return self.settings.account_id

    def config(self, cfg: FunctionConfig, *, qualified: bool = False) -> dict[str, object]:
        return function_configuration(cfg, self.region, self.account, qualified=qualified)

    def arn(self, name: str, qualifier: str | None = None) -> str:
        return function_arn(self.region, self.account, name, qualifier)

    def host(self, req: Request) -> str:
        """The address the caller used to reach Lamina (for URLs it should follow)."""
        return req.headers.get("host") or f"{self.settings.host}:{self.settings.port}"

    def presigned_url(self, req: Request, path: str) -> str:
        """A URL for ``path`` that works without credentials for 10 minutes."""
        host = self.host(req)
        key_id, secret = self.settings.credentials()
        query = sigv4.presign_query(
            "GET",
            path,
            host,
            access_key=key_id,
            secret=secret,
            region=self.region,
            service="lambda",
            amz_date=time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock())),
            expires_s=CODE_URL_EXPIRES_S,
        )
        return f"http://{host}{path}?{query}"
