"""The root filesystem of an environment: a minimal read-only tree made for functions.

Nothing of the host is visible unless listed here. ``lamina-jail -R 1`` builds the tree in
a tmpfs from these binds and symlinks and makes it ``/`` (``pivot_root``):

* ``/usr``: a tree made for functions (:mod:`lamina.sandbox.usrtree`: a shell and small
  tools, the runtimes' interpreters and the shared libraries they need), or the host's
  whole ``/usr`` when ``own_usr`` is off; ``/bin``, ``/lib``... are the host's usr-merge
  symlinks into it; read-only;
* ``/etc`` made by Lamina: ``passwd`` and ``group`` with the sandbox user
  (``sbx_user1051``, as on Lambda) and its home, ``hosts``, ``hostname``, ``resolv.conf``
  (the host's name servers that are reachable from a network namespace, i.e. not on
  loopback), ``nsswitch.conf``; plus the host's CA certificates, dynamic linker cache,
  time zone and a few data files runtimes read (:data:`ETC_FROM_HOST`); with a /usr
  tree, its own ``alternatives`` (only the links into the tree) and ``ld.so.cache`` (only
  the tree's libraries);
* ``/var/task`` (the code), ``/var/runtime`` (Lamina's bootstraps), ``/opt`` (empty, or
  the function's layers when the spec has them);
* a minimal ``/dev`` (``null``, ``zero``, ``full``, ``random``, ``urandom``, ``tty`` and
  the ``fd``/``stdin``/``stdout``/``stderr`` links), a private ``/dev/shm`` and ``/tmp``,
  its own ``/proc`` and ``/sys``;
* interpreter prefixes outside ``/usr`` (e.g. ``/root/.pyenv/versions/3.12.1``) at their
  own path.

Everything but ``/tmp`` and ``/dev/shm`` is read-only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

SANDBOX_USER = "sbx_user1051"
HOME = f"/home/{SANDBOX_USER}"
HOSTNAME = "lamina"

# Host /etc entries bound into the environment's /etc when they exist.
ETC_FROM_HOST = (
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "gai.conf",
    "host.conf",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "protocols",
    "services",
    "ssl",
)
# Of those, what Lamina writes itself when environments have their own /usr tree.
OWN_WITH_USR = ("alternatives",)
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
)
# Top-level directories that are symlinks into /usr on a usr-merged host.
USR_MERGED = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


def etc_files(uid: int, gid: int, host_resolv: str) -> dict[str, str]:
    """The files Lamina writes into an environment's /etc (pure)."""
    nameservers = [
        line
        for line in host_resolv.splitlines()
        if line.split()[:1] == ["nameserver"]
        and len(line.split()) > 1
        and not line.split()[1].startswith(("127.", "::1"))
    ]
    others = [
        line for line in host_resolv.splitlines() if line.split()[:1] in (["search"], ["options"])
    ]
    return {
        "passwd": (
            "root:x:0:0:root:/root:/sbin/nologin\n"
            f"{SANDBOX_USER}:x:{uid}:{gid}::{HOME}:/sbin/nologin\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
        ),
        "group": f"root:x:0:\n{SANDBOX_USER}:x:{gid}:\nnogroup:x:65534:\n",
        # sandbox.localdomain: the environment itself, as on Lambda (Telemetry API listeners).
        "hosts": (
            f"127.0.0.1\tlocalhost {HOSTNAME} sandbox.localdomain sandbox\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
        ),
        "hostname": f"{HOSTNAME}\n",
        "resolv.conf": "".join(f"{line}\n" for line in [*nameservers, *others]),
        "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\nservices: files\n",
    }


def alternatives(host_dir: Path, usr_tree: Path) -> dict[str, str]:
    """The links of the host's ``/etc/alternatives`` that name something in ``usr_tree``
    (the environments' /usr), as name -> target: ``awk`` -> ``/usr/bin/mawk`` stays,
    ``cc`` -> ``/usr/bin/gcc`` and hundreds of manual pages go."""
    try:
        names = sorted(os.listdir(host_dir))
    except OSError:
        return {}
    out: dict[str, str] = {}
    for name in names:
        try:
            target = os.readlink(host_dir / name)
        except OSError:
            continue
        if target.startswith("/usr/") and os.path.lexists(usr_tree / target[len("/usr/") :]):
            out[name] = target
    return out


def prepare_etc(
    base: Path, uid: int, gid: int, etc: Path = Path("/etc"), usr_tree: Path | None = None
) -> Path:
    """Write the environment's /etc under ``base`` once per content; returns its path.

    Placeholders (empty files or directories, as on the host) stand where the host's
    entries of :data:`ETC_FROM_HOST` are bound, since the jail cannot create them in a
    read-only bind. With a /usr tree of its own (``usr_tree``) the environment gets its
    own ``alternatives`` too, holding only the links into that tree (:func:`alternatives`).
    """
    try:
        resolv = (etc / "resolv.conf").read_text()
    except OSError:
        resolv = ""
    files = etc_files(uid, gid, resolv)
    links = {} if usr_tree is None else alternatives(etc / "alternatives", usr_tree)
    host_entries = [
        name
        for name in ETC_FROM_HOST
        if (etc / name).exists() and not (usr_tree is not None and name in OWN_WITH_USR)
    ]
    key = (sorted(files.items()), host_entries, usr_tree is not None, sorted(links.items()))
    digest = hashlib.sha256(repr(key).encode()).hexdigest()
    target = base / f"etc-{digest[:16]}"
    if target.is_dir():
        return target
    tmp = base / f"etc-{digest[:16]}.{os.getpid()}.tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (tmp / name).write_text(text)
        (tmp / name).chmod(0o644)
    for name in host_entries:
        if (etc / name).is_dir():
            (tmp / name).mkdir(exist_ok=True)
        else:
            (tmp / name).touch()
    if usr_tree is not None:
        (tmp / "alternatives").mkdir(mode=0o755, exist_ok=True)
        for name, link in links.items():
            (tmp / "alternatives" / name).symlink_to(link)
    tmp.chmod(0o755)
    try:
        tmp.rename(target)
    except OSError:
        # Another server made the same directory first: theirs is as good.
        shutil.rmtree(tmp)
    return target


@dataclass(frozen=True, slots=True)
class RootFs:
    """What every environment's root holds besides its own code (host-dependent, once)."""

    binds: tuple[tuple[Path, str], ...]
    links: tuple[tuple[str, str], ...]  # (target, path)

    def covers(self, path: Path) -> bool:
        """Whether ``path`` is already visible (under a bound directory).

        Anything under ``/usr`` counts as covered: the host's ``/usr``, or a tree made to
        hold the interpreters found there (a host path under a read-only ``/usr`` could
        not be bound at its own path anyway)."""
        return path.is_relative_to("/usr") or any(
            path.is_relative_to(src) and str(src) == dst for src, dst in self.binds
        )


def host_rootfs(
    etc_dir: Path,
    root: Path = Path("/"),
    usr_dir: Path | None = None,
    ld_cache: Path | None = None,
) -> RootFs:
    """The base binds and links for this host, with ``etc_dir`` from :func:`prepare_etc`;
    ``usr_dir`` and ``ld_cache`` from :func:`lamina.sandbox.usrbuild.prepare_usr` (None:
    the host's /usr, the host's ld.so.cache)."""
    usr = usr_dir if usr_dir is not None else root / "usr"
    binds: list[tuple[Path, str]] = [(usr, "/usr"), (etc_dir, "/etc")]
    for name in ETC_FROM_HOST:
        host = root / "etc" / name
        if name == "ld.so.cache" and ld_cache is not None:
            binds.append((ld_cache, "/etc/ld.so.cache"))
        elif host.exists() and not (usr_dir is not None and name in OWN_WITH_USR):
            binds.append((host, f"/etc/{name}"))
    for name in DEVICES:
        if (root / "dev" / name).exists():
            binds.append((root / "dev" / name, f"/dev/{name}"))
    links: list[tuple[str, str]] = list(DEV_LINKS)
    for name in USR_MERGED:
        top = root / name
        if top.is_symlink():
            links.append((os.readlink(top), f"/{name}"))
        elif top.is_dir():
            binds.append((top, f"/{name}"))
    return RootFs(tuple(binds), tuple(links))
