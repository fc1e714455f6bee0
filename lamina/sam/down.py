"""``lamina down``: remove everything ``lamina up`` made for a stack, then mark the stack
DELETE_COMPLETE on the server (CloudFormation's ListStacks then shows it deleted).

The plan is ``up``'s own, for a template that holds nothing: each resource the stack's
state file (or the ``lamina:stack`` tag) names is deleted the way ``up`` deletes a resource
that left the template (a bucket that still holds objects is kept, with a warning).
"""

from __future__ import annotations

from collections.abc import Callable

from lamina.client.boto import BotoClients
from lamina.client.http import ClientError as LaminaClientError
from lamina.sam.apply import Applied, Applier
from lamina.sam.deploy import Project, refuse_managed
from lamina.sam.model import StackSpec
from lamina.sam.observe import observe_at
from lamina.sam.plan import plan
from lamina.sam.state import load_state, save_state


def remove_stack(
    project: Project,
    clients: BotoClients | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> Applied:
    """Delete the stack's resources; the stack record goes once nothing failed."""
    settings = project.settings
    clients = clients or BotoClients.for_settings(project.endpoint, settings)
    if project.record:
        refuse_managed(clients, project.stack)
    empty = StackSpec(project.stack, settings.region, settings.account_id)
    path = project.state_at(project.stack)
    state = load_state(path, project.stack, project.endpoint)
    current = observe_at(project.endpoint, clients, empty, state, project.routes_file)
    the_plan = plan(empty, {}, current, state)
    applied = Applier(clients, empty, {}, state, project.routes_file, progress).run(the_plan)
    save_state(path, state)
    if not project.record:
        return applied  # the server's own removal marks the stack itself
    if applied.failed:
        applied.warnings.append("the stack is kept (DELETE_FAILED on AWS): run `down` again")
        return applied
    try:
        clients.lamina().request("DELETE", f"/lamina/v1/stacks/{project.stack}", ok=(204,))
    except LaminaClientError as exc:
        applied.warnings.append(f"the stack record was not marked deleted: {exc}")
    return applied
