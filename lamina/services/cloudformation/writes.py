"""CloudFormation's write operations for the stacks the server deploys itself: change sets
(CreateChangeSet, DescribeChangeSet, ListChangeSets, DeleteChangeSet, ExecuteChangeSet),
CreateStack, UpdateStack and DeleteStack — what ``sam deploy``, ``sam delete`` and
``aws cloudformation deploy`` call.

Each call checks and records what it was asked synchronously and hands the work to the
:class:`~.engine.StackEngine`'s thread; the caller polls (DescribeChangeSet, DescribeStacks,
DescribeStackEvents) as on AWS. The handler then lets the answer wait a little for that work
(:attr:`StackWrites.pending`), so a waiter's first poll usually sees it done.

A stack ``lamina up`` recorded (deployed on the client, its state in the project) is not
changed or deleted here: ``lamina down`` removes it.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from lamina.arns import lamina_stack_arn
from lamina.errors import AwsServiceError
from lamina.services.cloudformation import changesets as cs_model
from lamina.services.cloudformation.changesets import ChangeSet, CreateRequest
from lamina.services.cloudformation.engine import StackEngine
from lamina.services.cloudformation.model import (
    REVIEW_IN_PROGRESS,
    Stack,
    StackRecord,
    StackValidationError,
    check_stack_name,
)
from lamina.services.cloudformation.operations import Operation, timestamp
from lamina.services.cloudformation.store import StackStore

# The Host header of the request being answered (TemplateURL must name this server).
REQUEST_HOST: contextvars.ContextVar[str] = contextvars.ContextVar("cfn_host", default="")
WRITE_ACTIONS = frozenset(
    {
        "CreateChangeSet",
        "DeleteChangeSet",
        "ExecuteChangeSet",
        "CreateStack",
        "UpdateStack",
        "DeleteStack",
    }
)


def _up_stack(name: str) -> StackValidationError:
    return StackValidationError(
        f"Stack {name} was deployed by `lamina up` (its state is kept in that project): "
        "remove it with `lamina down` there first, or deploy under another stack name"
    )


def _already_exists(message: str) -> AwsServiceError:
    return AwsServiceError("AlreadyExistsException", message, 400, "AlreadyExistsException")


class StackWrites:
    def __init__(
        self,
        store: StackStore,
        engine: StackEngine,
        region: str,
        account: str,
        own_hosts: Callable[[], frozenset[str]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.engine = engine
        self.region = region
        self.account = account
        self.own_hosts = own_hosts
        self.clock = clock
        # The work the last call started; the handler lets its answer wait for it a little.
        self.pending: Future[Any] | None = None

    def operations(self) -> dict[str, Operation]:
        return {
            "CreateChangeSet": self.create_change_set,
            "DescribeChangeSet": self.describe_change_set,
            "ListChangeSets": self.list_change_sets,
            "DeleteChangeSet": self.delete_change_set,
            "ExecuteChangeSet": self.execute_change_set,
            "CreateStack": self.create_stack,
            "UpdateStack": self.update_stack,
            "DeleteStack": self.delete_stack,
        }

    # -- helpers ---------------------------------------------------------------------------
    def _hosts(self) -> frozenset[str]:
        host = REQUEST_HOST.get().lower()
        return self.own_hosts() | ({host} if host else frozenset())

    def _managed(self, name: str) -> Stack | None:
        """The live stack ``name`` if the server deploys it; refused if ``lamina up`` does."""
        stack = self.store.find(name)
        if stack is not None and not self.store.is_managed(stack.record.stack_id):
            raise _up_stack(stack.record.name)
        return stack

    def _find_change_set(self, params: Mapping[str, str]) -> ChangeSet:
        name = params.get("ChangeSetName", "")
        if not name:
            raise StackValidationError("ChangeSetName must be given")
        stack_id = None
        if not name.startswith("arn:"):
            stack = self.store.find(params.get("StackName", ""))
            if stack is None:
                raise cs_model.not_found(name)
            stack_id = stack.record.stack_id
        found = self.store.change_set(name, stack_id)
        if found is None:
            raise cs_model.not_found(name)
        return found

    def _new_change_set(self, req: CreateRequest, kind: str, name: str) -> ChangeSet:
        """Check ``req`` against the stack, record it (and the stack, if new) and start
        computing it."""
        if req.template_url:
            cs_model.template_location(req.template_url, self._hosts())
        if req.stack_name.startswith("arn:"):  # a StackId (Terraform updates by it)
            found = self.store.find(req.stack_name)
            if found is None or found.deleted is not None:
                raise StackValidationError(f"Stack [{req.stack_name}] does not exist")
            req = replace(req, stack_name=found.record.name)
        check_stack_name(req.stack_name)
        stack = self._managed(req.stack_name)
        now = self.clock()
        stack_id = lamina_stack_arn(self.region, self.account, req.stack_name)
        template = req.template
        if req.use_previous_template:
            deployed = self.engine.deployed(req.stack_name) if stack is not None else None
            if deployed is None:
                raise StackValidationError("UsePreviousTemplate: the stack has no template yet")
            template = str(deployed["Template"])
        if stack is None or stack.status == REVIEW_IN_PROGRESS:
            if kind == "UPDATE":
                raise StackValidationError(f"Stack [{req.stack_name}] does not exist")
            self.store.review(StackRecord(req.stack_name, stack_id, "", capabilities=()), now)
        else:
            if kind == "CREATE":
                raise _already_exists(f"Stack [{req.stack_name}] already exists")
            if stack.status.endswith("_IN_PROGRESS"):
                raise StackValidationError(
                    f"Stack:{stack_id} is in {stack.status} state and can not be updated."
                )
        if self.store.change_set(name, stack_id) is not None:
            raise _already_exists(f"ChangeSet {name} already exists")
        existing = self.store.change_sets(stack_id)
        # FAILED ones (each "No changes to deploy" leaves one) make room, oldest first.
        for spent in [c for c in existing if c.status == cs_model.FAILED][
            : max(0, len(existing) - cs_model.MAX_CHANGE_SETS + 1)
        ]:
            self.store.delete_change_set(spent.id)
            self.engine.forget(spent)
            existing.remove(spent)
        if len(existing) >= cs_model.MAX_CHANGE_SETS:
            raise AwsServiceError(
                "LimitExceededException",
                f"Stack {req.stack_name} has {cs_model.MAX_CHANGE_SETS} change sets: delete "
                "some (DeleteChangeSet) first",
                400,
                "LimitExceededException",
            )
        cs = ChangeSet(
            id=cs_model.change_set_arn(self.region, self.account, name),
            name=name,
            stack_id=stack_id,
            stack_name=req.stack_name,
            type=kind,
            created=now,
            description=req.description,
            template=template,
            template_url="" if template else req.template_url,
            parameters=req.parameters,
            previous=req.previous,
            capabilities=req.capabilities,
            tags=req.tags,
        )
        self.store.put_change_set(cs)
        return cs

    def _start(self, cs: ChangeSet) -> None:
        """The change set's stack is now CREATE/UPDATE_IN_PROGRESS and it runs."""
        status = "CREATE_IN_PROGRESS" if cs.type == "CREATE" else "UPDATE_IN_PROGRESS"
        self.store.put_change_set(replace(cs, execution_status=cs_model.EXECUTE_IN_PROGRESS))
        self.store.set_status(cs.stack_id, status, self.clock(), "User Initiated")

    # -- change sets -----------------------------------------------------------------------
    def create_change_set(self, params: dict[str, str]) -> Mapping[str, Any]:
        req = cs_model.parse_create(params)
        cs = self._new_change_set(req, req.type, req.name)
        self.pending = self.engine.submit(lambda: self.engine.prepare(cs))
        return {"Id": cs.id, "StackId": cs.stack_id}

    def describe_change_set(self, params: dict[str, str]) -> Mapping[str, Any]:
        cs = self._find_change_set(params)
        return cs_model.described(cs, timestamp(cs.created))

    def list_change_sets(self, params: dict[str, str]) -> Mapping[str, Any]:
        name = params.get("StackName", "")
        stack = self.store.find(name)
        if stack is None:
            raise StackValidationError(f"Stack with id {name} does not exist")
        rows = self.store.change_sets(stack.record.stack_id)
        return {"Summaries": [cs_model.summary(c, timestamp(c.created)) for c in rows]}

    def delete_change_set(self, params: dict[str, str]) -> Mapping[str, Any]:
        cs = self._find_change_set(params)
        if cs.execution_status == cs_model.EXECUTE_IN_PROGRESS or cs.status == "CREATE_PENDING":
            raise cs_model.invalid_status(
                f"ChangeSet [{cs.id}] cannot be deleted in its current status "
                f"[{cs.status}/{cs.execution_status}]"
            )
        self.store.delete_change_set(cs.id)
        self.engine.forget(cs)
        return {}

    def execute_change_set(self, params: dict[str, str]) -> Mapping[str, Any]:
        cs = self._find_change_set(params)
        if cs.status != cs_model.CREATE_COMPLETE or cs.execution_status != cs_model.AVAILABLE:
            raise cs_model.invalid_status(
                f"ChangeSet [{cs.id}] cannot be executed in its current status of "
                f"[{cs.status}]"
                + (f" ({cs.execution_status})" if cs.status == "CREATE_COMPLETE" else "")
            )
        stack = self.store.find(cs.stack_id)
        if stack is None or stack.deleted is not None:
            raise StackValidationError(f"Stack [{cs.stack_name}] does not exist")
        if stack.status.endswith("_IN_PROGRESS") and stack.status != REVIEW_IN_PROGRESS:
            raise cs_model.invalid_status(
                f"Stack:{cs.stack_id} is in {stack.status} state and can not be updated."
            )
        self._start(cs)
        self.pending = self.engine.submit(lambda: self.engine.execute(cs))
        return {}

    # -- stacks ----------------------------------------------------------------------------
    def create_stack(self, params: dict[str, str]) -> Mapping[str, Any]:
        """A change set made and executed at once (Terraform's aws_cloudformation_stack)."""
        req = cs_model.parse_create(params, change_set=False)
        cs = self._new_change_set(req, "CREATE", f"lamina-create-{int(self.clock() * 1000)}")
        self.pending = self.engine.submit(lambda: self._prepare_and_execute(cs, create=True))
        return {"StackId": cs.stack_id}

    def update_stack(self, params: dict[str, str]) -> Mapping[str, Any]:
        req = cs_model.parse_create(params, change_set=False)
        cs = self._new_change_set(req, "UPDATE", f"lamina-update-{int(self.clock() * 1000)}")
        self.pending = self.engine.submit(lambda: self._prepare_and_execute(cs, create=False))
        return {"StackId": cs.stack_id}

    def _prepare_and_execute(self, cs: ChangeSet, *, create: bool) -> str | None:
        """CreateStack's and UpdateStack's work; UpdateStack's error when it is not done
        (the handler answers it if the call is still waiting)."""
        self.engine.prepare(cs)
        prepared = self.store.change_set(cs.id, None)
        if prepared is None:
            return None
        if prepared.status != cs_model.CREATE_COMPLETE:
            self.store.delete_change_set(cs.id)
            if prepared.reason == cs_model.NO_CHANGES:
                return "No updates are to be performed."
            status = "ROLLBACK_COMPLETE" if create else "UPDATE_ROLLBACK_COMPLETE"
            self.store.set_status(cs.stack_id, status, self.clock(), prepared.reason)
            return None if create else prepared.reason
        self._start(prepared)
        self.engine.execute(prepared)
        return None

    def delete_stack(self, params: dict[str, str]) -> Mapping[str, Any]:
        name = params.get("StackName", "")
        if not name:
            raise StackValidationError("StackName must be given")
        stack = self.store.find(name)
        if stack is None or stack.deleted is not None:
            return {}  # as on AWS: deleting a stack that is not there succeeds
        if not self.store.is_managed(stack.record.stack_id):
            raise StackValidationError(
                f"Lamina does not delete stack {stack.record.name} through CloudFormation: "
                "`lamina up` creates and removes a stack's resources from the project on the "
                "client. Run `lamina down` in the project to remove the stack."
            )
        stack_id = stack.record.stack_id
        if stack.status == REVIEW_IN_PROGRESS:
            self.store.mark_deleted(stack_id, self.clock())  # it never held anything
            return {}
        if stack.status.endswith("_IN_PROGRESS"):
            if stack.status == "DELETE_IN_PROGRESS":
                return {}
            raise StackValidationError(
                f"Stack [{stack.record.name}] is in {stack.status} state and cannot be deleted "
                "until it completes"
            )
        self.store.set_status(stack_id, "DELETE_IN_PROGRESS", self.clock(), "User Initiated")
        self.pending = self.engine.submit(lambda: self.engine.delete(stack_id, stack.record.name))
        return {}
