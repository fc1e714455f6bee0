"""Start a child with ``posix_spawn`` and await its exit through a pidfd.

``posix_spawn`` (vfork-style in glibc) skips the cost of ``asyncio.create_subprocess_exec``'s
transports and child watcher; the pidfd turns the exit into an event-loop readable event,
so waiting never blocks the loop and never races another reaper for a reused pid.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Mapping, Sequence

from lamina.errors import SandboxError


class Child:
    """A spawned process whose exit status is collected exactly once, by the event loop."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        stdout_fd: int,
        *,
        new_session: bool = False,
        pass_fds: tuple[int, ...] = (),
    ) -> None:
        """``pass_fds`` become descriptors 3, 4, ... of the child (e.g. a control socket)."""
        path = argv[0] if "/" in argv[0] else shutil.which(argv[0], path=env.get("PATH"))
        if not path:
            raise SandboxError(f"cannot start {argv[0]}: not found on the runtime's PATH")
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self.pid = os.posix_spawn(
                path,
                list(argv),
                dict(env),
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, null, 0),
                    (os.POSIX_SPAWN_DUP2, stdout_fd, 1),
                    (os.POSIX_SPAWN_DUP2, stdout_fd, 2),
                    *((os.POSIX_SPAWN_DUP2, fd, 3 + i) for i, fd in enumerate(pass_fds)),
                ],
                setsid=new_session,
            )
        except OSError as exc:
            raise SandboxError(f"cannot start {argv[0]}: {exc}") from exc
        finally:
            os.close(null)
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = self._loop.create_future()
        self._pidfd = os.pidfd_open(self.pid)
        self._loop.add_reader(self._pidfd, self._reap)

    def _reap(self) -> None:
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        _, status = os.waitpid(self.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        # Same convention as the jail and shells: killed by signal N → 128 + N.
        self._exited.set_result(128 - code if code < 0 else code)

    def has_exited(self) -> bool:
        return self._exited.done()

    async def wait(self) -> int:
        """Exit status, or 128 + signal number if killed by a signal."""
        return await asyncio.shield(self._exited)
