"""Rust functions: ``cargo build --release --offline`` into a ``bootstrap``.

Built against the crates Debian installs under ``/usr/share/cargo/registry`` (crates.io is
out of reach here), with a private ``CARGO_HOME`` whose ``config.toml`` replaces crates.io
with that directory: the set-up ``scripts/build-examples.sh`` uses, without asking the
project to carry a ``.cargo/config.toml``. The target directory is cached per crate so a
rebuild after an edit is incremental.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from pathlib import Path

from lamina.sam.builds.deps import Toolchain
from lamina.sam.builds.runner import run_logged
from lamina.sam.errors import BuildError

DEBIAN_REGISTRY = Path("/usr/share/cargo/registry")
_CARGO_CONFIG = f"""# Written by `lamina up`: build offline against Debian's packaged crates.
[source.crates-io]
replace-with = "debian-packages"

[source.debian-packages]
directory = "{DEBIAN_REGISTRY}"

[net]
offline = true
"""


def binary_name(manifest: Path, wanted: str | None) -> str:
    """The binary to ship: BuildProperties.Binary, else the only [[bin]], else the package."""
    try:
        doc = tomllib.loads(manifest.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BuildError(f"{manifest}: cannot read ({exc})") from None
    if wanted:
        return wanted
    bins = [b.get("name") for b in doc.get("bin", []) if isinstance(b, dict)]
    if len(bins) == 1 and bins[0]:
        return str(bins[0])
    if "bootstrap" in bins:
        return "bootstrap"
    if bins:
        raise BuildError(
            f"{manifest}: several binaries ({', '.join(map(str, bins))}); name one in the "
            "function's Metadata: BuildProperties: Binary: <name>"
        )
    name = (doc.get("package") or {}).get("name")
    if not name:
        raise BuildError(f"{manifest}: no [package] name and no [[bin]]")
    return str(name)


def cargo_home(tools: Toolchain) -> Path:
    home = tools.cache / "cargo-home"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config.toml"
    if not config.is_file() or config.read_text() != _CARGO_CONFIG:
        config.write_text(_CARGO_CONFIG)
    return home


def cargo_build(source: Path, binary: str | None, tools: Toolchain, what: str) -> Path:
    """Build the crate at ``source``; return the path of the release binary."""
    manifest = source / "Cargo.toml"
    name = binary_name(manifest, binary)
    key = hashlib.sha256(str(source).encode()).hexdigest()[:16]
    target = tools.cache / "rust-target" / (f"{key}-quick" if tools.quick_rust else key)
    env = {
        **os.environ,
        "CARGO_HOME": str(cargo_home(tools)),
        "CARGO_TARGET_DIR": str(target),
        "CARGO_NET_OFFLINE": "true",
    }
    if tools.quick_rust:
        # Optimised still, but without whole-program LTO and with parallel, incremental
        # codegen: an edit rebuilds in a few seconds. Its own target directory, so the
        # release build's artifacts stay valid.
        env.update(
            CARGO_PROFILE_RELEASE_LTO="false",
            CARGO_PROFILE_RELEASE_CODEGEN_UNITS="256",
            CARGO_PROFILE_RELEASE_INCREMENTAL="true",
        )
    cargo = tools.cargo
    if os.sep not in cargo:
        # A login-less shell may lack ~/.cargo/bin on PATH (as in CI).
        home_cargo = Path.home() / ".cargo" / "bin" / "cargo"
        if home_cargo.exists() and not any(
            (Path(p) / "cargo").exists() for p in env.get("PATH", "").split(os.pathsep)
        ):
            cargo = str(home_cargo)
    if os.sep in cargo:
        env["PATH"] = f"{Path(cargo).parent}{os.pathsep}{env.get('PATH', '')}"
    run_logged(
        [cargo, "build", "--release", "--offline", "--bin", name],
        cwd=source,
        log=tools.logs / f"{what}.log",
        what=f"{what}: cargo",
        env=env,
    )
    built = target / "release" / name
    if not built.is_file():
        raise BuildError(f"{what}: cargo built no binary {built}")
    return built
