"""The command-line flags a Node.js runtime starts with: AWS's, from the memory size.

AWS's Node.js bootstrap (``/var/runtime/bootstrap`` in its images) starts ``node`` with
``--expose-gc``, a larger HTTP header limit, and V8 heap limits cut from the function's
memory: a tenth for the young generation (two semi-spaces), the rest for the old one. So
``global.gc`` exists, and a heap that outgrows the function's memory fails as V8's
"JavaScript heap out of memory" rather than as a kill by the memory cgroup. Lamina passes
the same flags, so functions see the same heap limits and globals.
"""

from __future__ import annotations

# Node's default is 16 KiB; AWS raises it for functions that are HTTP servers or clients.
MAX_HTTP_HEADER_SIZE = 81920


def node_flags(memory_mb: int) -> tuple[str, ...]:
    """The flags for a function of ``memory_mb`` MB, before the bootstrap's path."""
    new_space = memory_mb // 10
    return (
        "--expose-gc",
        f"--max-http-header-size={MAX_HTTP_HEADER_SIZE}",
        f"--max-semi-space-size={new_space // 2}",
        f"--max-old-space-size={memory_mb - new_space}",
    )
