"""The workers' side of the API: activities and task tokens.

SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat settle the token of a
``.waitForTaskToken`` task or of an activity task; CreateActivity, DescribeActivity,
DeleteActivity and ListActivities manage activities, and GetActivityTask long-polls for
their tasks (:mod:`.activities`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from lamina.arns import STATES_NAME, activity_arn, parse_states_arn
from lamina.services.stepfunctions.activities import ActivityRecord, ActivityTasks
from lamina.services.stepfunctions.operations import (
    Operation,
    field_str,
    listing,
    sfn_error,
    tags_of,
)
from lamina.services.stepfunctions.store import WorkflowStore
from lamina.services.stepfunctions.tasks import CallbackTokens, TaskRunner
from lamina.workflows.steps import Err, Ok


class WorkerOperations:
    """Activities and task-token callbacks."""

    def __init__(
        self, store: WorkflowStore, tasks: TaskRunner, tokens: CallbackTokens, region: str,
        account: str,
    ) -> None:  # fmt: skip
        self.store = store
        self.tokens = tokens
        self.region = region
        self.account = account
        self.activities: dict[str, ActivityRecord] = {}
        self.activity_tasks: ActivityTasks = tasks.activities
        tasks.activity_exists = lambda arn: arn in self.activities
        self.poll_s = 60.0
        # (task token, worker name) → record ActivityStarted; set by the wiring
        self.started: Callable[[str, str], None] = lambda token, worker: None

    def table(self) -> dict[str, Operation]:
        return {
            "SendTaskSuccess": self.send_task_success,
            "SendTaskFailure": self.send_task_failure,
            "SendTaskHeartbeat": self.send_task_heartbeat,
            "CreateActivity": self.create_activity,
            "DescribeActivity": self.describe_activity,
            "DeleteActivity": self.delete_activity,
            "ListActivities": self.list_activities,
            "GetActivityTask": self.get_activity_task,
        }

    def load(self) -> None:
        self.activities = {a.arn: a for a in self.store.load_activities()}

    # -- callbacks ---------------------------------------------------------------------------
    async def send_task_success(self, body: dict[str, Any]) -> dict[str, Any]:
        token = field_str(body, "taskToken") or ""
        output = field_str(body, "output") or ""
        try:
            value = json.loads(output)
        except ValueError as exc:
            raise sfn_error("InvalidOutput", f"Invalid Output: '{exc}'") from None
        if not self.tokens.settle(token, Ok(value)):
            raise sfn_error("TaskDoesNotExist", "Task Timed Out or Does Not Exist")
        return {}

    async def send_task_failure(self, body: dict[str, Any]) -> dict[str, Any]:
        token = field_str(body, "taskToken") or ""
        error = body.get("error") or ""
        cause = body.get("cause") or ""
        if not self.tokens.settle(token, Err(str(error), str(cause))):
            raise sfn_error("TaskDoesNotExist", "Task Timed Out or Does Not Exist")
        return {}

    async def send_task_heartbeat(self, body: dict[str, Any]) -> dict[str, Any]:
        token = field_str(body, "taskToken") or ""
        if not self.tokens.heartbeat(token):
            raise sfn_error("TaskDoesNotExist", "Task Timed Out or Does Not Exist")
        return {}

    # -- activities --------------------------------------------------------------------------
    def _activity(self, arn: str) -> ActivityRecord:
        parsed = parse_states_arn(arn)
        if parsed is None or parsed.kind != "activity":
            raise sfn_error("InvalidArn", f"Invalid Arn: '{arn}'")
        act = self.activities.get(arn)
        if act is None:
            raise sfn_error("ActivityDoesNotExist", f"Activity Does Not Exist: '{arn}'")
        return act

    async def create_activity(self, body: dict[str, Any]) -> dict[str, Any]:
        name = field_str(body, "name") or ""
        if not STATES_NAME.match(name):
            raise sfn_error("InvalidName", f"Invalid Name: '{name}'")
        arn = activity_arn(self.region, self.account, name)
        act = self.activities.get(arn)
        if act is None:
            act = ActivityRecord(arn, name, time.time(), tags_of(body.get("tags")))
            await self.store.save_activity(act)
            self.activities[arn] = act
        return {"activityArn": arn, "creationDate": act.created}

    async def describe_activity(self, body: dict[str, Any]) -> dict[str, Any]:
        act = self._activity(field_str(body, "activityArn") or "")
        return {"activityArn": act.arn, "name": act.name, "creationDate": act.created}

    async def delete_activity(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = field_str(body, "activityArn") or ""
        if self.activities.pop(arn, None) is not None:
            await self.store.delete_activity(arn)
        return {}

    async def list_activities(self, body: dict[str, Any]) -> dict[str, Any]:
        items = sorted(self.activities.values(), key=lambda a: a.name)
        return listing(
            body,
            "activities",
            items,
            lambda a: {"activityArn": a.arn, "name": a.name, "creationDate": a.created},
        )

    async def get_activity_task(self, body: dict[str, Any]) -> dict[str, Any]:
        """Long poll (up to 60 s): ``{taskToken, input}``, or ``{}`` when nothing came."""
        act = self._activity(field_str(body, "activityArn") or "")
        task = await self.activity_tasks.take(act.arn, self.poll_s)
        if task is None:
            return {}
        self.started(task.token, str(body.get("workerName") or ""))
        return {"taskToken": task.token, "input": task.input}
