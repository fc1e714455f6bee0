"""The environments' /usr tree: ELF needs read from headers, the plan from this host's
/usr (base set, interpreters, closure; no compilers, package managers, setuid programs or
host packages), and the tree built from hard links, once per content."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from lamina.sandbox.elfdeps import ld_so_conf_dirs, parse_elf, read_elf
from lamina.sandbox.rootfs import alternatives, host_rootfs, prepare_etc
from lamina.sandbox.usrbuild import build_usr, ldconfig, stale_trees
from lamina.sandbox.usrtree import (
    UsrPlan,
    interpreter_prefixes,
    multiarch,
    plan_usr,
    prefix_elves,
)

USR = Path("/usr")
TRIPLET = multiarch(USR)
PYENV = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def test_the_needs_of_a_real_program_are_read_from_its_headers() -> None:
    needs = read_elf(Path(os.path.realpath("/bin/sh")))
    assert needs is not None
    assert needs.interp is not None and "ld-linux" in needs.interp
    assert "libc.so.6" in needs.needed


def test_what_is_not_elf_needs_nothing(tmp_path: Path) -> None:
    script = tmp_path / "bootstrap"
    script.write_text("#!/bin/sh\necho hi\n")
    assert read_elf(script) is None
    assert parse_elf(lambda offset, size: b"\x7fELF"[offset : offset + size]) is None
    # Headers pointing past the end of the data are refused, not read as zeros.
    head = Path(os.path.realpath("/bin/sh")).read_bytes()[:64]
    assert parse_elf(lambda offset, size: head[offset : offset + size]) is None


def test_ld_so_conf_includes_are_followed_in_order(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "b.conf").write_text("/opt/b\n")
    (tmp_path / "conf.d" / "a.conf").write_text("# a comment\n/opt/a  # trailing\n")
    conf = tmp_path / "ld.so.conf"
    conf.write_text(f"/first\ninclude {tmp_path}/conf.d/*.conf\ninclude {conf}\n")
    assert ld_so_conf_dirs(conf) == ["/first", "/opt/a", "/opt/b"]


@pytest.fixture(scope="module")
def plan_and_prefixes() -> tuple[UsrPlan, list[Path]]:
    prefixes = interpreter_prefixes(Path.home(), PYENV, [])
    return plan_usr(USR, prefixes), prefixes


def test_the_plan_holds_the_base_set_and_the_interpreters(
    plan_and_prefixes: tuple[UsrPlan, list[Path]],
) -> None:
    plan, _ = plan_and_prefixes
    held = set(plan.files) | {link for link, _ in plan.links}
    assert {"bin/sh", "bin/bash", "bin/ls", "bin/cat", "bin/python3", "bin/python3.11"} <= held
    assert "lib/python3.11/os.py" in held and "lib/python3.11/json/__init__.py" in held
    assert f"lib/{TRIPLET}/libc.so.6" in held and f"lib/{TRIPLET}/libssl.so.3" in held
    assert "share/zoneinfo/Europe/Paris" in held
    # A directory of the base set is taken whole, even when links reached into it first.
    assert {n for n in held if n.startswith("share/zoneinfo/Europe/")} == {
        f"share/zoneinfo/Europe/{n}" for n in os.listdir("/usr/share/zoneinfo/Europe")
    }
    assert any(n.startswith("share/ca-certificates/") for n in held)


def test_the_plan_leaves_out_what_functions_have_no_business_with(
    plan_and_prefixes: tuple[UsrPlan, list[Path]],
) -> None:
    plan, _ = plan_and_prefixes
    held = set(plan.files) | {link for link, _ in plan.links} | set(plan.dirs)
    for name in ("bin/gcc", "bin/cc", "bin/as", "bin/ld", "bin/apt", "bin/dpkg", "bin/sudo",
                 "bin/su", "bin/ssh", "bin/pip3", "bin/perl", "bin/make", "lib/gcc",
                 "lib/python3/dist-packages", "local/bin/docker"):  # fmt: skip
        assert name not in held
    assert not any("dist-packages/" in n or "site-packages/" in n for n in held)
    assert not any("/config-3." in n for n in held)  # static libpython, for building
    for rel in plan.files:
        assert not os.stat(USR / rel).st_mode & (stat.S_ISUID | stat.S_ISGID), rel


def test_every_library_an_interpreter_needs_from_usr_is_in_the_plan(
    plan_and_prefixes: tuple[UsrPlan, list[Path]],
) -> None:
    """Closure: the interpreters in /usr and those of the prefixes outside it (pyenv)."""
    plan, prefixes = plan_and_prefixes
    assert TRIPLET is not None
    held = {Path(rel).name for rel in plan.files} | {Path(rel).name for rel, _ in plan.links}
    elves = [USR / rel for rel in plan.files if rel.startswith(("bin/", f"lib/{TRIPLET}/"))]
    elves += [p for p in (USR / "lib/python3.11/lib-dynload").glob("*.so")]
    for prefix in prefixes:
        elves += prefix_elves(prefix)
    checked = 0
    for elf in elves:
        needs = read_elf(elf)
        if needs is None or elf.name.startswith("_tkinter"):
            continue
        own = [Path(p.replace("$ORIGIN", str(elf.parent))) for p in needs.runpath]
        for name in needs.needed:
            if any((d / name).exists() for d in own):
                continue  # ld.so finds it in the file's own run path (a pyenv prefix's lib)
            if (USR / "lib" / TRIPLET / name).exists():  # found in /usr by ld.so
                assert name in held, f"{elf} needs {name}"
                checked += 1
    assert checked > 50


def test_pyenv_prefixes_get_the_host_libraries_they_need(
    plan_and_prefixes: tuple[UsrPlan, list[Path]],
) -> None:
    plan, prefixes = plan_and_prefixes
    if not any((p / "lib").glob("python3.*/lib-dynload/_sqlite3*.so") for p in prefixes):
        pytest.skip("no pyenv Python 3 on this host")
    held = {Path(rel).name for rel in plan.files} | {Path(rel).name for rel, _ in plan.links}
    assert {"libsqlite3.so.0", "libffi.so.8", "liblzma.so.5", "libbz2.so.1.0"} <= held


def test_a_setuid_program_never_goes_in(tmp_path: Path) -> None:
    usr = tmp_path / "usr"
    (usr / "bin").mkdir(parents=True)
    shutil.copy(os.path.realpath("/bin/true"), usr / "bin" / "sh")
    shutil.copy(os.path.realpath("/bin/true"), usr / "bin" / "cat")
    (usr / "bin" / "cat").chmod(0o4755)
    (usr / "bin" / "ls").symlink_to("cat")
    plan = plan_usr(usr, (), ld_so_conf=tmp_path / "none")
    assert "bin/sh" in plan.files
    assert plan.refused == ("bin/cat",) and "bin/cat" not in plan.files
    assert ("bin/ls", "cat") in plan.links  # a dangling link, harmless


def test_the_tree_is_hard_links_built_once_per_content(tmp_path: Path) -> None:
    if os.stat(tmp_path).st_dev != os.stat(USR).st_dev:
        pytest.skip("the test directory is not on /usr's filesystem")
    plan = plan_usr(USR, ())
    built = build_usr(tmp_path, plan)
    first = built.usr
    assert os.stat(first / "bin/bash").st_ino == os.stat(os.path.realpath("/usr/bin/bash")).st_ino
    assert os.readlink(first / "bin/python3") == os.readlink("/usr/bin/python3")
    assert stat.S_IMODE(os.stat(first / "lib").st_mode) == 0o755
    marker = first / "built-once"
    marker.touch()
    assert build_usr(tmp_path, plan) == built and marker.exists()  # found, not rebuilt
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_old_trees_are_removed_when_the_current_one_is_chosen(tmp_path: Path) -> None:
    if os.stat(tmp_path).st_dev != os.stat(USR).st_dev:
        pytest.skip("the test directory is not on /usr's filesystem")
    old = tmp_path / "usr-0123456789abcdef"
    (old / "usr" / "bin").mkdir(parents=True)
    (old / "usr" / "bin" / "python3").write_text("from before a host upgrade")
    dead = tmp_path / "usr-fedcba9876543210.999999999.tmp"  # no such pid: an aborted build
    dead.mkdir()
    other = tmp_path / "etc-1"  # not a /usr tree: left alone
    other.mkdir()
    built = build_usr(tmp_path, plan_usr(USR, ()))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([built.root.name, "etc-1"])
    assert (built.usr / "bin").is_dir()


def test_which_trees_are_stale() -> None:
    names = ["usr-aa", "usr-bb", "usr-cc.41.tmp", "usr-dd.42.tmp", "etc-x", "usr-aa.7.tmp"]
    # 42 is a live builder's pid; 41 and 7 are gone.
    assert stale_trees(names, "usr-aa", [1, 42]) == ["usr-aa.7.tmp", "usr-bb", "usr-cc.41.tmp"]
    assert stale_trees(["usr-aa"], "usr-aa", []) == []


def test_the_trees_linker_cache_names_only_its_own_libraries(tmp_path: Path) -> None:
    program = ldconfig()
    if program is None:
        pytest.skip("no ldconfig on this host")
    plan = plan_usr(USR, ())
    assert plan.lib_dirs and all(d.startswith("/usr/") for d in plan.lib_dirs)
    cache = build_usr(tmp_path, plan).ld_cache
    assert cache is not None

    def names(path: Path) -> set[str]:
        listing = subprocess.run(
            [program, "-p", "-C", str(path)], capture_output=True, text=True, check=True
        ).stdout
        return {line.split()[0] for line in listing.splitlines()[1:] if "=>" in line}

    own = names(cache)
    assert {"libc.so.6", "libssl.so.3", "libstdc++.so.6", "libsqlite3.so.0"} <= own
    held = {Path(rel).name for rel in plan.files} | {Path(rel).name for rel, _ in plan.links}
    assert own <= held  # nothing the tree does not hold
    assert len(names(Path("/etc/ld.so.cache"))) > len(own)


def test_the_root_binds_the_tree_at_usr_and_counts_usr_paths_as_covered(tmp_path: Path) -> None:
    tree = tmp_path / "usr-tree"
    tree.mkdir()
    cache = tmp_path / "ld.so.cache"
    rootfs = host_rootfs(tmp_path, usr_dir=tree, ld_cache=cache)
    assert (tree, "/usr") in rootfs.binds
    assert (cache, "/etc/ld.so.cache") in rootfs.binds
    assert (Path("/etc/ld.so.cache"), "/etc/ld.so.cache") not in rootfs.binds
    assert (Path("/usr"), "/usr") not in rootfs.binds
    # An interpreter whose prefix is /usr is in the tree: no bind of the host's /usr.
    assert rootfs.covers(Path("/usr")) and rootfs.covers(Path("/usr/local"))
    assert not rootfs.covers(PYENV / "versions" / "3.12.1")
    assert (Path("/usr"), "/usr") in host_rootfs(tmp_path).binds  # own_usr off


def test_the_environments_alternatives_hold_only_links_into_the_tree(tmp_path: Path) -> None:
    host = tmp_path / "etc"
    (host / "alternatives").mkdir(parents=True)
    (host / "alternatives" / "awk").symlink_to("/usr/bin/mawk")
    (host / "alternatives" / "cc").symlink_to("/usr/bin/gcc")
    (host / "alternatives" / "psql.1.gz").symlink_to("/usr/share/man/man1/psql.1.gz")
    tree = tmp_path / "usr-tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "mawk").touch()
    assert alternatives(host / "alternatives", tree) == {"awk": "/usr/bin/mawk"}
    etc = prepare_etc(tmp_path / "rootfs", 993, 993, etc=host, usr_tree=tree)
    assert os.listdir(etc / "alternatives") == ["awk"]
    assert os.readlink(etc / "alternatives" / "awk") == "/usr/bin/mawk"
    # Not bound from the host over Lamina's own.
    rootfs = host_rootfs(etc, root=tmp_path, usr_dir=tree)
    assert all(dst != "/etc/alternatives" for _, dst in rootfs.binds)
    assert (host / "alternatives", "/etc/alternatives") in host_rootfs(etc, root=tmp_path).binds
