"""Environments die with the server, even when it is killed with SIGKILL.

Two mechanisms, because either alone leaves a gap:

* every jail asks for ``PR_SET_PDEATHSIG`` (``lamina-jail -p``): when the server dies the
  kernel SIGKILLs the jail, its init's parent-death signal follows, and the pid namespace
  goes with its init;
* a frozen environment acts on no signal until thawed (cgroup v1), so one **watchdog**
  process per server (``lamina-jail -W``) holds the read end of a pipe whose write end
  only the server has. EOF on it means the server is gone: the watchdog kills and thaws
  every group under the server's cgroup roots and removes them, then unmounts and deletes
  the server's ``/tmp`` volumes (:mod:`lamina.sandbox.ephemeral`) and deletes its
  nftables table (:mod:`lamina.sandbox.outbound`).

The watchdog ignores SIGINT/SIGTERM/SIGHUP (a terminal's Ctrl-C reaches the whole process
group); on a normal shutdown the server closes the pipe after killing its environments,
and the watchdog finds nothing left and exits.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from lamina.errors import SandboxError
from lamina.sandbox.jail import watchdog_argv

log = logging.getLogger("lamina.sandbox")
_EXIT_WAIT_S = 2.0


class Watchdog:
    """The running watchdog of one server."""

    def __init__(
        self,
        jail: Path,
        roots: list[Path],
        volumes: Path | None = None,
        nft_table: tuple[str, str] | None = None,
    ) -> None:
        read_fd, self._write_fd = os.pipe()  # both close-on-exec: no environment inherits them
        try:
            self.pid = os.posix_spawn(
                str(jail),
                watchdog_argv(jail, roots, volumes, nft_table),
                {},
                file_actions=[(os.POSIX_SPAWN_DUP2, read_fd, 0)],
                setsid=True,
            )
        except OSError as exc:
            os.close(self._write_fd)
            raise SandboxError(f"cannot start the environment watchdog: {exc}") from exc
        finally:
            os.close(read_fd)

    def stop(self) -> None:
        """The server is shutting down cleanly: let the watchdog sweep and exit, reap it."""
        if self._write_fd < 0:
            return
        os.close(self._write_fd)
        self._write_fd = -1
        deadline = time.monotonic() + _EXIT_WAIT_S
        while time.monotonic() < deadline:
            pid, _status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return
            time.sleep(0.005)
        log.warning("the environment watchdog (pid %d) did not exit; leaving it", self.pid)
