"""Building the environments' ``/usr`` tree planned by :mod:`lamina.sandbox.usrtree`.

The tree is named by a digest of what it holds (paths, inodes, sizes, modification times)
and built only when no tree of that name exists yet under the data directory's
``rootfs/``: ``usr-<digest>/usr`` from **hard links** into the host's ``/usr`` when on the
same filesystem (no data copied; a host upgrade that replaces a file changes the digest),
copies otherwise; and ``usr-<digest>/etc/ld.so.cache``, the dynamic linker's cache of the
tree's libraries alone (the host's ``ldconfig -r``: the host's cache names every library
the host has), bound at ``/etc/ld.so.cache`` in place of the host's.

Trees of other digests (a host upgrade, another interpreter) are removed when the server
starts with a tree of its own: one server holds a data directory (``DataDirLock``) and its
previous run's environments are killed before the tree is prepared, so nothing uses them.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lamina.errors import SandboxError
from lamina.sandbox.usrtree import UsrPlan, plan_usr

log = logging.getLogger("lamina.sandbox")

LDCONFIG_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class UsrTree:
    """A built tree: ``root/usr`` is the environments' /usr, ``root/etc`` its linker cache."""

    root: Path

    @property
    def usr(self) -> Path:
        return self.root / "usr"

    @property
    def ld_cache(self) -> Path | None:
        """The tree's own ``ld.so.cache`` (None: ldconfig failed; the host's is bound)."""
        path = self.root / "etc" / "ld.so.cache"
        return path if path.is_file() else None


def ldconfig() -> str | None:
    """The host's ldconfig."""
    return shutil.which("ldconfig", path="/usr/sbin:/sbin:/usr/bin:/bin")


def write_ld_cache(root: Path, lib_dirs: Iterable[str]) -> None:
    """``root/etc/ld.so.cache`` for the libraries of ``root/usr`` (``ldconfig -r root``,
    which reads ELF headers and runs nothing; ``-X``: the tree's links stay as they are).
    A failure is logged: the environments then get the host's cache, as before."""
    program = ldconfig()
    if program is None:
        log.warning("no ldconfig: environments get the host's ld.so.cache")
        return
    (root / "etc").mkdir(mode=0o755, exist_ok=True)
    (root / "etc" / "ld.so.conf").write_text("".join(f"{d}\n" for d in lib_dirs))
    try:
        done = subprocess.run(
            [program, "-X", "-r", str(root)],
            capture_output=True,
            timeout=LDCONFIG_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("ldconfig failed (%s): environments get the host's ld.so.cache", exc)
        return
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip()
        log.warning("ldconfig failed (%s): environments get the host's ld.so.cache", err)
        (root / "etc" / "ld.so.cache").unlink(missing_ok=True)


def _digest(usr: Path, plan: UsrPlan) -> str:
    """Names the tree by what it holds: a changed host file makes a new tree."""
    h = hashlib.sha256()
    for rel in plan.dirs:
        h.update(f"d {rel}\n".encode())
    for rel in plan.files:
        st = (usr / rel).stat()
        h.update(f"f {rel} {st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns}\n".encode())
    for rel, target in plan.links:
        h.update(f"l {rel} {target}\n".encode())
    h.update(f"ld {plan.lib_dirs}\n".encode())
    return h.hexdigest()[:16]


def stale_trees(names: Iterable[str], keep: str, live_pids: Iterable[int]) -> list[str]:
    """Which entries of a tree directory to remove (pure): every ``usr-<digest>`` but
    ``keep``, and every unfinished ``usr-<digest>.<pid>.tmp`` whose builder is not alive."""
    alive = {str(pid) for pid in live_pids}
    stale = []
    for name in names:
        if not name.startswith("usr-") or name == keep:
            continue
        parts = name.split(".")
        if len(parts) == 3 and parts[2] == "tmp" and parts[1] in alive:
            continue  # another process is building it right now
        stale.append(name)
    return sorted(stale)


def _live_pids() -> list[int]:
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def prune_trees(base: Path, keep: Path) -> list[str]:
    """Remove the trees under ``base`` other than ``keep``; returns the names removed."""
    try:
        names = os.listdir(base)
    except OSError:
        return []
    removed = stale_trees(names, keep.name, _live_pids())
    for name in removed:
        shutil.rmtree(base / name, ignore_errors=True)
    if removed:
        log.info("removed the environments' old /usr trees under %s: %s", base, removed)
    return removed


def build_usr(base: Path, plan: UsrPlan, usr: Path = Path("/usr")) -> UsrTree:
    """The tree for ``plan`` under ``base`` (``usr-<digest>``), built unless it exists."""
    target = base / f"usr-{_digest(usr, plan)}"
    if target.is_dir():
        prune_trees(base, target)
        return UsrTree(target)
    started = time.monotonic()
    tmp = base / f"{target.name}.{os.getpid()}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tree = tmp / "usr"
    tree.mkdir(parents=True)
    copied = 0
    try:
        for rel in plan.dirs:
            (tree / rel).mkdir(mode=0o755, exist_ok=True)
        for rel in plan.files:
            try:
                os.link(usr / rel, tree / rel, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                    raise
                shutil.copy2(usr / rel, tree / rel, follow_symlinks=False)
                copied += (tree / rel).stat().st_size
        for rel, link in plan.links:
            os.symlink(link, tree / rel)
        for rel in plan.dirs:
            (tree / rel).chmod(0o755)
        tree.chmod(0o755)
        tmp.chmod(0o755)
        write_ld_cache(tmp, plan.lib_dirs)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SandboxError(f"cannot build the environments' /usr under {base}: {exc}") from exc
    try:
        tmp.rename(target)
    except OSError:
        # Another server built the same tree first: theirs is as good.
        shutil.rmtree(tmp, ignore_errors=True)
    log.info(
        "built the environments' /usr at %s: %d files, %d links in %.2f s (%d MB copied)",
        target,
        len(plan.files),
        len(plan.links),
        time.monotonic() - started,
        copied // 2**20,
    )
    prune_trees(base, target)
    return UsrTree(target)


def prepare_usr(base: Path, prefixes: Iterable[Path], usr: Path = Path("/usr")) -> UsrTree:
    """Plan and (if new) build the environments' /usr under ``base``; returns its path."""
    try:
        plan = plan_usr(usr, prefixes)
        if plan.refused:
            log.info("the environments' /usr leaves out setuid/setgid files: %s", plan.refused)
        if plan.unresolved:
            log.debug("libraries not found for the environments' /usr: %s", plan.unresolved)
        return build_usr(base, plan, usr)
    except OSError as exc:  # e.g. a host file removed between the plan and the build
        raise SandboxError(f"cannot plan the environments' /usr: {exc}") from exc
