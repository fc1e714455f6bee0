"""IAM as one component of the server: the store, the operations, the session issuer, the
authoriser and the HTTP endpoint, built from :class:`Settings` (``iam.db``, ``iam-secret``)."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lamina.arns import function_arn
from lamina.config import Settings
from lamina.errors import AccessDenied, AwsServiceError, InvalidParameterValue, S3Error
from lamina.models.function import FunctionConfig
from lamina.services.iam.actions import Access, lambda_access, mounted_access
from lamina.services.iam.authorizer import Authorizer, Caller, Operator, RoleCaller
from lamina.services.iam.credentials import Session, SessionIssuer, load_secret
from lamina.services.iam.handler import IamHandler
from lamina.services.iam.operations import IamOperations
from lamina.services.iam.policy import Policy
from lamina.services.iam.resource_policies import ResourcePolicies
from lamina.services.iam.store import IamStore
from lamina.wire.http import Request

# Role credentials outlive the longest an environment (or the zygote it forks from) lives;
# IAM's own ceiling for a role session is 12 hours.
CREDENTIALS_TTL_S = 12 * 3600
# Sessions whose signatures were verified, by access key id (bounded: the oldest go first).
_MAX_SESSIONS = 4096
# Lambda's words for a function whose execution role it cannot assume.
ROLE_NOT_ASSUMABLE = "The role defined for the function cannot be assumed by Lambda."
_ACCESS_KEY = re.compile(r"Credential=([A-Z0-9]+)[/%]")


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
    # Bucket and queue policies (their services keep this up to date).
    resources: ResourcePolicies = field(default_factory=ResourcePolicies)
    _verified: OrderedDict[str, Session] = field(default_factory=OrderedDict)

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

    def check_role(self, role_arn: str) -> None:
        """Refuse a function's execution role that Lambda could not assume.

        With keys configured the role must exist (CreateFunction and
        UpdateFunctionConfiguration answer AWS's ``InvalidParameterValueException``); in dev
        mode an unknown role is accepted, allows anything, and the log says so once.
        """
        if self.operations.role_by_arn(role_arn) is not None:
            return
        if self.authorizer.dev_mode:
            self.authorizer.unknown_role(role_arn)
            return
        raise InvalidParameterValue(ROLE_NOT_ASSUMABLE)

    def session_secret(self, access_key_id: str, token: str) -> str | None:
        """The secret of genuine, unexpired role credentials (for SigV4), else None.

        The session is remembered by its key id: a key id belongs to exactly one token, so a
        request whose signature then verifies with this secret was made by this session.
        """
        session = self.issuer.verify(access_key_id, token, self.clock())
        if session is None:
            return None
        self._verified[access_key_id] = session
        self._verified.move_to_end(access_key_id)
        while len(self._verified) > _MAX_SESSIONS:
            self._verified.popitem(last=False)
        return self.issuer.secret_for(token)

    def caller(self, authorization: str, raw_query: str = "") -> Caller:
        """Who made an authenticated request: a function's role session, or the operator."""
        m = _ACCESS_KEY.search(authorization) or _ACCESS_KEY.search(raw_query)
        key = m.group(1) if m else ""
        session = self._verified.get(key) if key.startswith("ASIA") else None
        return Operator(key) if session is None else RoleCaller(session)

    def authorize(
        self,
        authorization: str,
        raw_query: str,
        access: Access,
        resource_policies: Sequence[Policy] = (),
    ) -> None:
        """Raise AccessDenied unless the request's caller may perform ``access``."""
        if "ASIA" not in authorization and "ASIA" not in raw_query:
            return  # the operator (or an unsigned dev-mode caller): nothing to decide
        self.authorizer.require(
            self.caller(authorization, raw_query),
            access.action,
            access.resource,
            resource_policies=resource_policies,
        )

    def check_mounted(self, service: str, req: Request) -> None:
        """Authorise an authenticated request to a mounted service (S3, SQS, ...)."""
        authorization, query = req.headers.get("authorization", ""), req.target.partition("?")[2]
        if "ASIA" not in authorization and "ASIA" not in query:
            return  # only role sessions are limited: the operator may do everything
        access = mounted_access(
            service, req.method, req.target, req.headers, req.body, self.region, self.account
        )
        try:
            # A bucket's or queue's own policy may grant (or deny) what the role's do not.
            self.authorize(
                authorization, query, access, self.resources.for_resource(access.resource)
            )
        except AccessDenied as denied:
            raise service_denial(service, denied.message, req.path) from None

    def check_lambda(
        self,
        req: Request,
        operation: str,
        params: dict[str, str],
        resource_policies: Callable[[], Sequence[Policy]] | None = None,
    ) -> None:
        """Authorise an authenticated Lambda API request (its route's operation); the
        function's resource policy (read only for a role session) may grant it too."""
        authorization, query = req.headers.get("authorization", ""), req.target.partition("?")[2]
        if "ASIA" not in authorization and "ASIA" not in query:
            return
        qs = req.query if query else {}
        access = lambda_access(operation, params, qs, self.region, self.account)
        policies = resource_policies() if resource_policies is not None else ()
        self.authorizer.require(
            self.caller(authorization, query),
            access.action,
            access.resource,
            resource_policies=policies,
        )

    def close(self) -> None:
        self.store.close()


# Services whose access-denied error is ``AccessDenied`` (S3, and the query protocol's SQS,
# IAM and CloudFormation) or SNS's ``AuthorizationError``; the JSON-protocol services call
# it ``AccessDeniedException``.
_ACCESS_DENIED = {
    "s3": "AccessDenied",
    "sqs": "AccessDenied",
    "iam": "AccessDenied",
    "cloudformation": "AccessDenied",
    "sns": "AuthorizationError",
}


def service_denial(service: str, message: str, path: str) -> AwsServiceError:
    """A denial in ``service``'s own words (code and shape), for its protocol to render."""
    code = _ACCESS_DENIED.get(service, "AccessDeniedException")
    if service == "s3":
        return S3Error(code, message, 403, resource=path)
    return AwsServiceError(code, message, 403, query_code=code)
