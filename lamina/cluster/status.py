"""``GET /lamina/v1/cluster``: the nodes, their capacity and environments (``lamina
cluster status``), and the demand an autoscaler reads (cold starts that found no room)."""

from __future__ import annotations

import json

from lamina.cluster.router import ClusterRouter
from lamina.services.protocol.reach import Reach
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

PATH = "/lamina/v1/cluster"
REACH = Reach(paths=(PATH,))  # what ClusterStatus.accepts can pick


def cluster_status(router: ClusterRouter) -> dict[str, object]:
    """The status body (pure: the router's and placement's state now)."""
    placement = router.placement
    nodes = []
    for node in sorted(placement.nodes.values(), key=lambda n: n.node_id):
        conn = router.connections.get(node.node_id)
        nodes.append(
            {
                "node_id": node.node_id,
                "address": f"{conn.host}:{conn.port}" if conn is not None else "",
                "alive": node.alive,
                "capacity_mb": node.capacity_mb,
                "used_mb": node.used_mb,
                "cpus": node.cpus,
                "busy": node.busy,
                "idle": dict(node.idle),
                # The node fetches its code packages itself (lamina.cluster.nodecode).
                "pulls": conn is not None and conn.pulls,
            }
        )
    return {
        "nodes": nodes,
        "active": placement.active(),
        "unmet": placement.unmet,
        "unmet_mb": placement.unmet_mb,
        "lost_invokes": router.lost_invokes,
    }


class ClusterStatus:
    """The endpoint, mounted on the API's port (signed like any Lambda request)."""

    def __init__(self, router: ClusterRouter) -> None:
        self._router = router

    @staticmethod
    def accepts(req: Request) -> bool:
        return req.path == PATH

    def handle(self, req: Request, conn: HttpConnection | None) -> Response:
        if req.method not in ("GET", "HEAD"):
            return Response(405, b"GET only\n", {"Allow": "GET", "Content-Type": "text/plain"})
        body = json.dumps(cluster_status(self._router), separators=(",", ":")).encode()
        return Response(200, body, {"Content-Type": "application/json"})
