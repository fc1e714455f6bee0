"""Function policies: AddPermission / GetPolicy / RemovePermission (Lambda's resource policy).

Statements are shaped by :mod:`lamina.api.function_policy`, checked against IAM's policy
grammar (``parse_policy(..., resource_policy=True)``) and kept durably in
:class:`~lamina.store.function_policies.FunctionPolicyStore`. :meth:`PermissionOps.policy`
gives the parsed policy of a function, version or alias to whoever authorises invokes.
"""

from __future__ import annotations

import json

from lamina.api.answers import empty_response, json_body, json_response
from lamina.api.context import ApiContext, Handler
from lamina.api.function_policy import (
    checked_policy,
    no_policy,
    permission_statement,
    policy_document,
)
from lamina.arns import parse_function_ref
from lamina.models.function import LATEST
from lamina.services.iam.policy import Policy
from lamina.store.function_policies import FunctionPolicyStore
from lamina.wire.http import Request
from lamina.wire.server import Response


class PermissionOps:
    def __init__(self, ctx: ApiContext, store: FunctionPolicyStore | None = None) -> None:
        self.ctx = ctx
        self.functions = ctx.functions
        self.store = store or FunctionPolicyStore(ctx.settings.data_dir / "policies.db")
        self.functions.on_deleted.append(self.store.delete_function)

    def handlers(self) -> dict[str, Handler]:
        return {
            "AddPermission": self.add,
            "GetPolicy": self.get,
            "RemovePermission": self.remove,
        }

    def _target(self, req: Request, raw: str) -> tuple[str, str]:
        """(function, qualifier) of an existing function, version or alias ("" unqualified)."""
        ref = parse_function_ref(raw, req.query.get("Qualifier") or None)
        self.functions.get(ref.name, ref.qualifier)  # ResourceNotFound with Lambda's text
        qualifier = "" if ref.qualifier in (None, LATEST) else str(ref.qualifier)
        return ref.name, qualifier

    def add(self, req: Request, params: dict[str, str]) -> Response:
        name, qualifier = self._target(req, params["FunctionName"])
        body = json_body(req)
        statement = permission_statement(body, self.ctx.arn(name, qualifier or None))
        revision = body.get("RevisionId")
        self.store.add(
            name,
            qualifier,
            statement,
            revision if isinstance(revision, str) and revision else None,
            checked_policy,
        )
        return json_response(201, {"Statement": json.dumps(statement, separators=(",", ":"))})

    def get(self, req: Request, params: dict[str, str]) -> Response:
        name, qualifier = self._target(req, params["FunctionName"])
        statements, revision = self.store.statements(name, qualifier)
        if revision is None:
            raise no_policy()
        return json_response(200, {"Policy": policy_document(statements), "RevisionId": revision})

    def remove(self, req: Request, params: dict[str, str]) -> Response:
        name, qualifier = self._target(req, params["FunctionName"])
        self.store.remove(
            name, qualifier, params["StatementId"], req.query.get("RevisionId") or None
        )
        return empty_response(204)

    def policy(self, name: str, qualifier: str | None) -> Policy | None:
        """The resource policy of ``name`` (``qualifier``: a version or alias), parsed."""
        q = "" if qualifier in (None, LATEST) else str(qualifier)
        statements, revision = self.store.statements(name, q)
        return None if revision is None else checked_policy(statements)
