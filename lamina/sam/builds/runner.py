"""Running build tools (pip, npm, cargo, make) with their output in a log file."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from lamina.sam.errors import BuildError


def run_logged(
    argv: Sequence[str],
    *,
    cwd: Path,
    log: Path,
    what: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 1800,
) -> None:
    """Run ``argv``; on failure raise BuildError with the log's last lines."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"$ {' '.join(argv)}  (in {cwd})\n".encode())
        out.flush()
        try:
            code = subprocess.run(
                list(argv),
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                timeout=timeout,
                check=False,
            ).returncode
        except FileNotFoundError:
            raise BuildError(f"{what}: {argv[0]} is not installed") from None
        except subprocess.TimeoutExpired:
            raise BuildError(f"{what}: {argv[0]} took longer than {timeout:.0f} s") from None
    if code != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        raise BuildError(
            f"{what}: `{' '.join(argv[:3])} ...` failed (exit {code}); last lines of {log}:\n"
            + "\n".join("    " + line for line in tail)
        )
