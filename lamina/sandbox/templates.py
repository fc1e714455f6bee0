"""Root templates: the environments' common root filesystem, built once, joined per jail.

Building an environment's own root (a tmpfs, ~25 read-only binds, symlinks, mount
points, ``mount_setattr``, ``pivot_root`` and detaching the host's tree) was about 1 ms
of CPU of every cold start. All of it but the function's own code, Lamina's runtimes and
the layers is the same for every environment of a server, so it is built once per set of
exposed interpreter prefixes: ``lamina-jail -M 1`` builds the tree in a mount namespace
of its own, ``pivot_root``s into it and waits; the server keeps that namespace
(``/proc/PID/ns/mnt``) and lets the helper go. Each jail then gets it as ``-r FD``:
it clones the function's sources on the host (``open_tree``, read-only), joins the
template namespace, ``unshare``s a copy of it (a few mounts, not the host's table) and
attaches the clones at ``/var/task``, ``/var/runtime`` and ``/opt`` (and, without a
network namespace of its own, the host's ``/sys``). What the environment sees is the same
tree, built by the same code in ``jail.c``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from pathlib import Path

from lamina.errors import SandboxError
from lamina.sandbox.jail import OPT_ROOT, RUNTIME_ROOT, TASK_ROOT
from lamina.sandbox.rootfs import RootFs

log = logging.getLogger("lamina.sandbox")

# Mount points the function's own binds are attached at (made in the template).
FUNCTION_POINTS = (TASK_ROOT, RUNTIME_ROOT, OPT_ROOT)


def cgroup_mounts(mounts_text: str) -> tuple[tuple[str, str, str], ...]:
    """The cgroup mounts under ``/sys/fs/cgroup`` in a ``/proc/self/mounts`` text, as
    ``(dir, type, options)`` (pure). Passed to each jail (``-C``), which would otherwise
    parse the host's whole mount table on every cold start."""
    out = []
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[2] not in ("cgroup", "cgroup2"):
            continue
        if fields[1] == "/sys/fs/cgroup" or fields[1].startswith("/sys/fs/cgroup/"):
            out.append((fields[1], fields[2], fields[3]))
    return tuple(out)


def template_argv(
    jail: Path, binds: tuple[tuple[Path, str], ...], links: tuple[tuple[str, str], ...]
) -> list[str]:
    """``lamina-jail -M 1``'s command line for a tree of ``binds`` and ``links`` (pure)."""
    argv = [str(jail), "-M", "1", "-R", "1"]
    for src, dst in binds:
        argv += ["-B", str(src), dst]
    for target, link in links:
        argv += ["-L", target, link]
    for point in FUNCTION_POINTS:
        argv += ["-A", point]
    return argv


def make_template(argv: list[str]) -> int:
    """Run the template helper and return a descriptor of its mount namespace."""
    with subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as helper:
        assert helper.stdin is not None and helper.stdout is not None
        try:
            if helper.stdout.readline() != b"ready\n":
                helper.kill()
                _, err = helper.communicate()
                raise SandboxError(f"the root template failed: {err.decode(errors='replace')}")
            return os.open(f"/proc/{helper.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            helper.stdin.close()  # the helper exits; its namespace lives on in our descriptor
            helper.wait()


class RootTemplates:
    """One template namespace per set of exposed paths, made on first use."""

    def __init__(self, jail: Path, rootfs: RootFs) -> None:
        self._jail = jail
        self._rootfs = rootfs
        self._fds: dict[tuple[tuple[Path, str], ...], int | None] = {}
        self._lock = threading.Lock()  # made on a worker thread, looked up on the loop
        with open("/proc/self/mounts") as f:
            self.cgroup_mounts = cgroup_mounts(f.read())

    def known(self, exposed: tuple[tuple[Path, str], ...]) -> bool:
        """Whether :meth:`fd` answers for ``exposed`` without making anything."""
        return exposed in self._fds

    def fd(self, exposed: tuple[tuple[Path, str], ...]) -> int | None:
        """The template for ``exposed`` (made now if new: ~5-10 ms, so off the event loop),
        or None if it cannot be made (logged once per set; the jail then builds the tree
        itself, as before)."""
        if exposed in self._fds:  # made already: no lock (a dict lookup is atomic)
            return self._fds[exposed]
        with self._lock:
            if exposed in self._fds:
                return self._fds[exposed]
            argv = template_argv(self._jail, (*self._rootfs.binds, *exposed), self._rootfs.links)
            made: int | None = None
            try:
                made = make_template(argv)
            except (OSError, SandboxError) as exc:
                log.error("no root template (%s); environments build their root themselves", exc)
            self._fds[exposed] = made
            return made

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                if fd is not None:
                    os.close(fd)
            self._fds.clear()
