"""``AWS::Logs::LogGroup`` resources: made on Lamina's CloudWatch Logs with their retention.

A group is created when missing and its retention set (or removed) to match the template;
its events are whatever functions write there (``/aws/lambda/<function>``). Groups are
left in place when a template stops naming them, as CloudFormation's ``Retain`` would:
deleting a group deletes logs, which ``lamina up`` never does on its own.
"""

from __future__ import annotations

from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from lamina.client.boto import BotoClients
from lamina.sam.model import LogGroupSpec
from lamina.sam.observe import describe_error, error_code


def apply_log_group(clients: BotoClients, group: LogGroupSpec) -> None:
    logs = clients("logs")
    try:
        logs.create_log_group(logGroupName=group.name)
    except ClientError as exc:
        if error_code(exc) != "ResourceAlreadyExistsException":
            raise
    if group.retention_days is None:
        logs.delete_retention_policy(logGroupName=group.name)
    else:
        logs.put_retention_policy(logGroupName=group.name, retentionInDays=group.retention_days)


def apply_log_groups(
    clients: BotoClients,
    groups: dict[str, LogGroupSpec],
    progress: Callable[[str], None] = lambda line: None,
) -> list[str]:
    """Make every group true; the problems, one line each (nothing raises)."""
    problems = []
    for lid, group in groups.items():
        try:
            apply_log_group(clients, group)
        except (BotoCoreError, ClientError) as exc:
            problems.append(f"{lid}: log group {group.name}: {describe_error(exc)}")
            progress(problems[-1])
    return problems
