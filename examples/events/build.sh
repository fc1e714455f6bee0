#!/usr/bin/env bash
# Build the event-source examples into build/examples/events/<name>.zip.
#
#   examples/events/build.sh [--force]
#
# The thumbnail example vendors its requirements (Pillow: cp311 wheels for the
# functions' interpreter) with pip, byte-compiled by that interpreter since the task
# root is read-only; boto3 is not vendored (the Python runtimes provide it). The others
# are a single file. Incremental: a zip whose inputs (its folder, this script) did not
# change is kept. scripts/build-examples.sh (`make examples`) runs this too.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SRC="$ROOT/examples/events"
OUT="$ROOT/build/examples/events"
CACHE="$ROOT/build/cache/events"
PIP="${PIP:-$ROOT/.venv/bin/pip}"
PYTHON="${PYTHON:-python3}"
TARGET_PYTHON="${TARGET_PYTHON:-/usr/bin/python3}"
force=0
[ "${1:-}" = "--force" ] && force=1
mkdir -p "$OUT" "$CACHE"

zip_dir() {
    "$PYTHON" - "$1" "$2" <<'PY'
import os, sys, zipfile
src, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dest + ".tmp", "w", zipfile.ZIP_DEFLATED) as zf:
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for f in sorted(filenames):
            path = os.path.join(dirpath, f)
            info = zipfile.ZipInfo(os.path.relpath(path, src), date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as fh:
                zf.writestr(info, fh.read())
os.replace(dest + ".tmp", dest)
PY
}

for name in http-api thumbnail queue-consumer scheduled-job; do
    zip="$OUT/$name.zip"
    hash="$(
        {
            sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1
            "$TARGET_PYTHON" --version 2>&1
            cd "$SRC/$name" && find . -type f ! -path '*/__pycache__/*' -print0 |
                LC_ALL=C sort -z | xargs -0 sha256sum
        } | sha256sum | cut -d' ' -f1
    )"
    if [ "$force" -eq 0 ] && [ -f "$zip" ] && [ "$(cat "$zip.stamp" 2>/dev/null)" = "$hash" ]; then
        # (not "up to date": tests/examples counts those lines of build-examples.sh)
        echo "events/$name: unchanged (${zip#"$ROOT"/})"
        continue
    fi
    stage="$(mktemp -d)"
    cp "$SRC/$name/app.py" "$stage/"
    if [ -f "$SRC/$name/requirements.txt" ]; then
        deps="$CACHE/$name-deps"
        want="$(sha256sum "$SRC/$name/requirements.txt" | cut -d' ' -f1)"
        if [ "$(cat "$deps.stamp" 2>/dev/null)" != "$want" ]; then
            rm -rf "$deps"
            "$PIP" install --quiet --disable-pip-version-check --no-compile --target "$deps" \
                --python-version 3.11 --implementation cp --only-binary=:all: \
                -r "$SRC/$name/requirements.txt"
            echo "$want" >"$deps.stamp"
        fi
        cp -a "$deps/." "$stage/"
        rm -rf "$stage/bin"
        "$TARGET_PYTHON" -m compileall -q --invalidation-mode unchecked-hash "$stage" >/dev/null
    fi
    zip_dir "$stage" "$zip"
    rm -rf "$stage"
    echo "$hash" >"$zip.stamp"
    echo "events/$name: built ${zip#"$ROOT"/} ($(stat -c %s "$zip") bytes)"
done
