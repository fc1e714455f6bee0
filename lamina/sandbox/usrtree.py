"""The environments' ``/usr``: a tree made for functions, not the host's whole ``/usr``.

Lambda's base images give a function a shell and the usual small tools, the C and C++
runtime libraries, OpenSSL, zlib, CA certificates, time zones, the C.UTF-8 locale and the
runtime's interpreter. The host's ``/usr`` holds much more that hostile code has no
business reading or running: compilers, package managers, ``sudo``, the host's own Python
packages. So the environments' ``/usr`` is a tree holding only

* the base set (:data:`BASE_PROGRAMS`, :data:`BASE_LIBRARIES`, :data:`BASE_TREES`);
* the runtimes' interpreters found in ``/usr`` (:data:`INTERPRETERS`) and their standard
  libraries, without the host's ``dist-packages``/``site-packages`` (:data:`EXCLUDED`);
* the shared libraries all of those need, transitively (``DT_NEEDED``, read from the ELF
  headers by :mod:`lamina.sandbox.elfdeps`), and those that interpreter prefixes outside
  ``/usr`` (pyenv's, nvm's; bound at their own path) need from ``/usr``.

Setuid and setgid programs never go in. This module plans the tree (at every server
start: a walk of a few thousand host files, 0.1-0.4 s); :mod:`lamina.sandbox.usrbuild`
builds it once per content. Environments get it as one read-only bind at ``/usr`` in the
root template (:mod:`lamina.sandbox.templates`), so a cold start pays nothing for it.
"""

from __future__ import annotations

import glob
import logging
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lamina.sandbox.elfdeps import default_dirs, ld_so_conf_dirs, read_elf

log = logging.getLogger("lamina.sandbox")

# /usr/bin programs of the base set (those the host has): a shell and coreutils-like tools,
# as Lambda's provided.al2023 image has them, and curl, which custom runtimes' shell
# bootstraps use to talk to the Runtime API. (unshare: what a shell would try first to
# gain capabilities; the seccomp filter refuses it, and tests show that it does.)
BASE_PROGRAMS = (
    *("sh", "dash", "bash", "env", "cat", "ls", "cp", "mv", "rm", "mkdir", "rmdir", "ln"),
    *("chmod", "touch", "echo", "printf", "head", "tail", "wc", "sort", "uniq", "cut", "tr"),
    *("tee", "date", "sleep", "true", "false", "test", "[", "dirname", "basename"),
    *("readlink", "realpath", "id", "whoami", "uname", "pwd", "stat", "du", "df", "mktemp"),
    *("seq", "expr", "yes", "nproc", "timeout", "base64", "md5sum", "sha1sum", "sha256sum"),
    *("sha512sum", "cksum", "od", "paste", "join", "split", "comm", "fold", "nl", "tac"),
    *("find", "xargs", "grep", "egrep", "fgrep", "sed", "awk", "mawk", "gawk", "gzip"),
    *("gunzip", "zcat", "tar", "which", "hostname", "kill", "getent", "curl", "sync"),
    "unshare",
)
# Libraries (globs in the multiarch directory, e.g. lib/x86_64-linux-gnu) of the base set
# besides what the programs need: what native code built for Lambda expects to find, and
# what is loaded with dlopen (NSS modules), which no DT_NEEDED names.
BASE_LIBRARIES = (
    *("libc.so.*", "libm.so.*", "libmvec.so.*", "libpthread.so.*", "libdl.so.*", "librt.so.*"),
    *("libutil.so.*", "libresolv.so.*", "libanl.so.*", "libnss_files.so.*", "libnss_dns.so.*"),
    *("libcrypt.so.*", "libstdc++.so.*", "libgcc_s.so.*", "libatomic.so.*", "libssl.so.*"),
    *("libcrypto.so.*", "libz.so.*", "libffi.so.*", "libexpat.so.*", "libzstd.so.*"),
)
# Whole directories of the base set ({triplet}: the multiarch directory's name).
BASE_TREES = (
    "lib/{triplet}/gconv",
    "lib/{triplet}/ossl-modules",
    "lib/{triplet}/engines-3",
    "lib/locale/C.utf8",
    "lib/ssl",
    "share/zoneinfo",
    "share/ca-certificates",
)
# The runtimes' interpreters in /usr and their standard libraries (globs under /usr).
INTERPRETERS = (
    "bin/python3",
    "bin/python3.[0-9]",
    "bin/python3.[0-9][0-9]",
    "lib/python3.[0-9]",
    "lib/python3.[0-9][0-9]",
    "bin/node",
    "bin/nodejs",
    "local/bin/node",
    "local/bin/python3.[0-9]",
    "local/bin/python3.[0-9][0-9]",
    "local/lib/python3.[0-9]",
    "local/lib/python3.[0-9][0-9]",
)
# Names never taken from inside a directory: the host's packages and the standard library's
# tests and GUI (tkinter would pull in X11); and, by prefix, what builds extension modules
# (config-3.X-<triplet>: static libpython and Makefile, 25 MB).
EXCLUDED = frozenset(
    ("dist-packages", "site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip")
)
EXCLUDED_PREFIXES = ("config-3.",)
# Extension modules whose libraries are not worth their closure (Tk and X11).
SKIPPED_MODULES = ("_tkinter",)


@dataclass(frozen=True, slots=True)
class UsrPlan:
    """What the tree holds, as paths relative to /usr."""

    dirs: tuple[str, ...]
    files: tuple[str, ...]
    links: tuple[tuple[str, str], ...]  # (path, target)
    unresolved: tuple[str, ...]  # library names no file was found for
    refused: tuple[str, ...]  # setuid/setgid files left out
    lib_dirs: tuple[str, ...] = ()  # the library directories in the tree, in ld.so's order


def multiarch(usr: Path) -> str | None:
    """The multiarch directory's name (``x86_64-linux-gnu``), where libc is."""
    found = sorted(glob.glob(str(usr / "lib" / "*-linux-*" / "libc.so.6")))
    return Path(found[0]).parent.name if found else None


class _Planner:
    """Walks the host's /usr from the base set and interpreters through the ELF closure.

    Paths are strings here: a plan walks thousands of them at every server start."""

    def __init__(self, usr: Path, lib_dirs: list[str]) -> None:
        self.usr = str(usr)
        self.lib_dirs = lib_dirs
        self.kinds: dict[str, str] = {}  # rel path -> "d" (walked), "f" or "l"
        self.parents: set[str] = set()  # directories holding something, walked or not
        self.link_targets: dict[str, str] = {}
        self.refused: set[str] = set()
        self.unresolved: set[str] = set()
        self.scan: list[str] = []  # ELF files still to read
        self.scanned: set[str] = set()
        self._real_dirs: dict[str, str] = {}
        self._listings: dict[str, frozenset[str]] = {}

    def _real_dir(self, directory: str) -> str:
        real = self._real_dirs.get(directory)
        if real is None:
            real = self._real_dirs[directory] = os.path.realpath(directory)
        return real

    def _rel(self, path: str) -> str | None:
        # Resolve the parents only: the last component may be a symlink to keep.
        parent, name = os.path.split(path)
        real = f"{self._real_dir(parent)}/{name}"
        if not real.startswith(self.usr + "/"):
            return None
        return real[len(self.usr) + 1 :]

    def include(self, path: str) -> None:
        """Put ``path`` (a host path) in the tree if it lies in /usr, with its parents."""
        rel = self._rel(path)
        if rel is None or rel in self.kinds:
            return
        self._walk(rel)

    def _walk(self, rel: str) -> None:
        host = f"{self.usr}/{rel}"
        try:
            st = os.lstat(host)
        except OSError:
            return
        self._parents(rel)
        if stat.S_ISLNK(st.st_mode):
            self.kinds[rel] = "l"
            self.link_targets[rel] = os.readlink(host)
            # Follow the link (also through /etc/alternatives) to what it names in /usr.
            self.include(os.path.realpath(host))
        elif stat.S_ISDIR(st.st_mode):
            self.kinds[rel] = "d"
            try:
                names = sorted(os.listdir(host))
            except OSError as exc:
                log.warning("the /usr tree leaves out %s: %s", host, exc)
                return
            for name in names:
                child = f"{rel}/{name}"
                if (
                    name not in EXCLUDED
                    and not name.startswith(EXCLUDED_PREFIXES)
                    and child not in self.kinds
                ):
                    self._walk(child)
        elif stat.S_ISREG(st.st_mode):
            if st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                self.refused.add(rel)
                return
            self.kinds[rel] = "f"
            if _maybe_elf(rel):
                self.scan.append(host)

    def _parents(self, rel: str) -> None:
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            self.parents.add("/".join(parts[:i]))

    def _listing(self, directory: str) -> frozenset[str]:
        names = self._listings.get(directory)
        if names is None:
            try:
                names = frozenset(os.listdir(directory))
            except OSError:
                names = frozenset()
            self._listings[directory] = names
        return names

    def _resolve(self, name: str, origin: str, runpath: tuple[str, ...]) -> str | None:
        if "/" in name:
            return name if os.path.isfile(name) else None
        expanded = [p.replace("${ORIGIN}", origin).replace("$ORIGIN", origin) for p in runpath]
        for directory in (*expanded, *self.lib_dirs):
            if name in self._listing(directory):
                return f"{directory}/{name}"
        return None

    def close(self) -> None:
        """Add every library the ELF files to scan need, transitively."""
        while self.scan:
            path = self.scan.pop()
            if path in self.scanned or os.path.basename(path).startswith(SKIPPED_MODULES):
                continue
            self.scanned.add(path)
            needs = read_elf(Path(path))
            if needs is None:
                continue
            if needs.interp is not None:
                self.include(needs.interp)
            for name in needs.needed:
                found = self._resolve(name, os.path.dirname(path), needs.runpath)
                if found is None:
                    self.unresolved.add(name)
                    continue
                self.include(found)
                self.scan.append(os.path.realpath(found))

    def plan(self) -> UsrPlan:
        dirs = {r for r, k in self.kinds.items() if k == "d"} | self.parents
        lib_dirs: list[str] = []
        for directory in self.lib_dirs:
            rel = self._rel(os.path.realpath(directory))
            if rel is not None and rel in dirs and f"/usr/{rel}" not in lib_dirs:
                lib_dirs.append(f"/usr/{rel}")
        return UsrPlan(
            lib_dirs=tuple(lib_dirs),
            dirs=tuple(sorted(dirs)),
            files=tuple(sorted(r for r, k in self.kinds.items() if k == "f")),
            links=tuple(sorted(self.link_targets.items())),
            unresolved=tuple(sorted(self.unresolved)),
            refused=tuple(sorted(self.refused)),
        )


def _maybe_elf(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return rel.startswith(("bin/", "local/bin/")) or name.endswith(".so") or ".so." in name


def prefix_elves(prefix: Path) -> list[Path]:
    """The ELF files of an interpreter prefix outside /usr whose libraries may be in /usr:
    its programs, its libraries and its standard library's extension modules."""
    patterns = ("bin/*", "lib/*.so*", "lib/python*/lib-dynload/*.so")
    found: list[Path] = []
    for pattern in patterns:
        found += (Path(p) for p in sorted(glob.glob(str(prefix / pattern))))
    return [p for p in found if p.is_file()]


def plan_usr(
    usr: Path = Path("/usr"),
    prefixes: Iterable[Path] = (),
    ld_so_conf: Path = Path("/etc/ld.so.conf"),
) -> UsrPlan:
    """Plan the tree from this host's /usr and the interpreter ``prefixes`` outside it."""
    triplet = multiarch(usr)
    planner = _Planner(usr.resolve(), [*ld_so_conf_dirs(ld_so_conf), *default_dirs(triplet)])
    for name in BASE_PROGRAMS:
        planner.include(f"{usr}/bin/{name}")
    if triplet is not None:
        for pattern in BASE_LIBRARIES:
            for path in sorted(glob.glob(str(usr / "lib" / triplet / pattern))):
                planner.include(path)
    for tree in BASE_TREES:
        if "{triplet}" in tree and triplet is None:
            continue
        planner.include(f"{usr}/{tree.format(triplet=triplet)}")
    for pattern in INTERPRETERS:
        for path in sorted(glob.glob(str(usr / pattern))):
            planner.include(path)
    for prefix in prefixes:
        planner.scan += (str(p) for p in prefix_elves(prefix))
    planner.close()
    return planner.plan()


def interpreter_prefixes(home: Path, pyenv_root: Path, extra: Iterable[Path]) -> list[Path]:
    """Interpreter prefixes outside /usr whose closure the tree must hold: pyenv's and
    nvm's installs and the prefixes of configured interpreters (``<prefix>/bin/<binary>``)."""
    found: list[Path] = []
    for parent in (pyenv_root / "versions", home / ".nvm" / "versions" / "node"):
        try:
            found += sorted(p for p in parent.iterdir() if p.is_dir())
        except OSError:
            continue
    for binary in extra:
        prefix = Path(os.path.realpath(binary)).parent.parent
        if not prefix.is_relative_to("/usr"):
            found.append(prefix)
    return found
