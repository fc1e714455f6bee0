"""IAM as one component of the server: the store, the operations, the session issuer, the
authoriser and the HTTP endpoint, built from :class:`Settings` (``iam.db``, ``iam-secret``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from lamina.arns import function_arn
from lamina.config import Settings
from lamina.models.function import FunctionConfig
from lamina.services.iam.authorizer import Authorizer
from lamina.services.iam.credentials import SessionIssuer, load_secret
from lamina.services.iam.handler import IamHandler
from lamina.services.iam.operations import IamOperations
from lamina.services.iam.store import IamStore

# Role credentials outlive the longest an environment (or the zygote it forks from) lives;
# IAM's own ceiling for a role session is 12 hours.
CREDENTIALS_TTL_S = 12 * 3600


@dataclass
class IamService:
    store: IamStore
    operations: IamOperations
    issuer: SessionIssuer
    authorizer: Authorizer
    handler: IamHandler
    region: str
    account: str
    clock: Callable[[], float] = time.time

    @classmethod
    def open(cls, settings: Settings) -> IamService:
        store = IamStore(settings.data_dir / "iam.db", fsync=settings.async_fsync)
        operations = IamOperations(store, settings.account_id)
        return cls(
            store=store,
            operations=operations,
            issuer=SessionIssuer(load_secret(settings.data_dir)),
            authorizer=Authorizer(
                operations, settings.account_id, dev_mode=not settings.signature_required
            ),
            handler=IamHandler(operations),
            region=settings.region,
            account=settings.account_id,
        )

    def credentials_for(self, cfg: FunctionConfig) -> tuple[str, str, str]:
        """The temporary credentials of ``cfg``'s execution role, for its environments."""
        creds = self.issuer.issue(
            cfg.role,
            cfg.name,
            function_arn(self.region, self.account, cfg.name),
            self.clock() + CREDENTIALS_TTL_S,
        )
        return creds.access_key_id, creds.secret_access_key, creds.session_token

    def session_secret(self, access_key_id: str, token: str) -> str | None:
        """The secret of genuine, unexpired role credentials (for SigV4), else None."""
        if self.issuer.verify(access_key_id, token, self.clock()) is None:
            return None
        return self.issuer.secret_for(token)

    def close(self) -> None:
        self.store.close()
