#!/usr/bin/env bash
# Build Lamina's example functions into deployable zips under build/examples/.
#
#   scripts/build-examples.sh [--only NAME] [--paired | --all] [--force]
#
# Names: hello-python hello-node hello-rust streaming-rust ric-python ric-node sdk-node-s3
# sls-otel-extension (the default set);
# the paired examples paired-{thumbnail,orders,loglines}-{python,rust} are built
# with --paired (only them) or --all (everything), or one by one with --only.
# The default set and --all also build the event-source examples (examples/events,
# their own script: build/examples/events/).
# Incremental: each zip has a stamp holding the hash of its inputs (sources, this
# script, tool versions); an unchanged example is skipped. Zips are deterministic
# (sorted entries, fixed timestamps) and keep the exec bit of `bootstrap`.
#
# Needs scripts/install-system-deps.sh to have run (Debian's Rust crates for
# hello-rust; autoconf/automake/libtool/cmake/g++ for aws-lambda-ric).
# Tools: $PIP (default .venv/bin/pip), $NPM (npm), $CARGO (cargo), $PYTHON (python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EXAMPLES="$ROOT/examples"
BUILD="$ROOT/build"
OUT="$BUILD/examples"
STAGE="$BUILD/stage"
CACHE="$BUILD/cache"
LOGS="$BUILD/logs"
ALL_NAMES=(hello-python hello-node hello-rust streaming-rust ric-python ric-node sdk-node-s3
    sls-otel-extension)
# The paired examples (examples/paired): one workload each in Python and in Rust.
# Not in the default set: the cost tools, their tests and the demo build them with
# --paired (Pillow's wheel and the image/regex crates take a minute the first time).
PAIRED_WORKLOADS=(thumbnail orders loglines)
PAIRED_NAMES=()
for workload in "${PAIRED_WORKLOADS[@]}"; do
    PAIRED_NAMES+=("paired-$workload-python" "paired-$workload-rust")
done
KNOWN_NAMES=("${ALL_NAMES[@]}" "${PAIRED_NAMES[@]}")

PYTHON="${PYTHON:-python3}"
# The Python the functions run on (awslambdaric's bootstrap uses it); .pyc files
# are compiled by it so their magic number matches.
TARGET_PYTHON="${TARGET_PYTHON:-/usr/bin/python3}"
PIP="${PIP:-$ROOT/.venv/bin/pip}"
NPM="${NPM:-npm}"
if [ -z "${CARGO:-}" ]; then
    CARGO="$(command -v cargo || echo "$HOME/.cargo/bin/cargo")"
fi
# cargo finds rustc on PATH; a login-less shell (CI) may lack ~/.cargo/bin.
PATH="$(dirname "$CARGO"):$PATH"

only=""
force=0
set_of_names=default
while [ $# -gt 0 ]; do
    case "$1" in
        --only) only="${2:?--only needs a name}"; shift 2 ;;
        --only=*) only="${1#--only=}"; shift ;;
        --paired) set_of_names=paired; shift ;;
        --all) set_of_names=all; shift ;;
        --force) force=1; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "build-examples: unknown argument: $1" >&2; exit 2 ;;
    esac
done
if [ -n "$only" ] && [[ ! " ${KNOWN_NAMES[*]} " == *" $only "* ]]; then
    echo "build-examples: unknown example '$only' (one of: ${KNOWN_NAMES[*]})" >&2
    exit 2
fi

mkdir -p "$OUT" "$STAGE" "$CACHE" "$LOGS"

# --- helpers ---------------------------------------------------------------

# Hash of files (paths relative to ROOT and contents) plus extra strings.
inputs_hash() {
    local extra="$1"; shift
    {
        printf '%s\n' "$extra"
        sha256sum "$0" | cut -d' ' -f1
        (cd "$ROOT" && find "$@" -type f \
            ! -path '*/node_modules/*' ! -path '*/__pycache__/*' ! -path '*/target/*' \
            -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    } | sha256sum | cut -d' ' -f1
}

# Deterministic zip of a directory: sorted entries, fixed timestamps, and the
# file's own mode (so executables stay executable); bootstrap is always 0755.
zip_dir() {
    local src="$1" dest="$2"
    "$PYTHON" - "$src" "$dest.tmp" <<'EOF'
import os
import stat
import sys
import zipfile

src, dest = sys.argv[1], sys.argv[2]
paths = []
for dirpath, dirnames, filenames in os.walk(src):
    dirnames.sort()
    paths.extend(os.path.join(dirpath, f) for f in sorted(filenames))
with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
    for path in paths:
        name = os.path.relpath(path, src).replace(os.sep, "/")
        mode = os.stat(path).st_mode & 0o777
        if name == "bootstrap" or mode & 0o111:
            mode = 0o755
        else:
            mode = 0o644
        info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
        info.external_attr = (stat.S_IFREG | mode) << 16
        info.create_system = 3  # Unix, so extractors honour the mode bits
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(path, "rb") as f:
            zf.writestr(info, f.read())
EOF
    mv "$dest.tmp" "$dest"
}

# Run a command with its output in build/logs/<name>.log; show the tail on failure.
logged() {
    local name="$1"; shift
    if ! "$@" >>"$LOGS/$name.log" 2>&1; then
        echo "build-examples: $name: '$*' failed; last lines of $LOGS/$name.log:" >&2
        tail -n 40 "$LOGS/$name.log" >&2
        return 1
    fi
}

fresh_stage() {
    rm -rf "${STAGE:?}/$1"
    mkdir -p "$STAGE/$1"
    echo "$STAGE/$1"
}

# --- one function per example --------------------------------------------------

build_hello_python() {
    local stage; stage="$(fresh_stage hello-python)"
    cp "$EXAMPLES/hello/python/app.py" "$stage/"
}

build_hello_node() {
    local stage; stage="$(fresh_stage hello-node)"
    cp "$EXAMPLES/hello/node/index.mjs" "$stage/"
}

build_hello_rust() {
    local stage; stage="$(fresh_stage hello-rust)"
    local target="$BUILD/rust-target/hello-rust"
    mkdir -p "$BUILD/cargo-home"
    # Run from the crate so cargo reads its .cargo/config.toml (Debian's crates,
    # offline); a private CARGO_HOME keeps ~/.cargo untouched.
    (
        cd "$EXAMPLES/hello/rust"
        export CARGO_HOME="$BUILD/cargo-home" CARGO_TARGET_DIR="$target"
        logged hello-rust "$CARGO" build --release --offline --locked
    )
    cp "$target/release/bootstrap" "$stage/bootstrap"
}

# A custom runtime that streams its response; standard library only.
build_streaming_rust() {
    local stage; stage="$(fresh_stage streaming-rust)"
    local target="$BUILD/rust-target/streaming-rust"
    mkdir -p "$BUILD/cargo-home"
    (
        cd "$EXAMPLES/streaming/rust"
        export CARGO_HOME="$BUILD/cargo-home" CARGO_TARGET_DIR="$target"
        logged streaming-rust "$CARGO" build --release --offline --locked
    )
    cp "$target/release/bootstrap" "$stage/bootstrap"
}

build_ric_python() {
    local stage; stage="$(fresh_stage ric-python)"
    local src="$EXAMPLES/ric/python"
    local deps="$CACHE/ric-python-deps"
    local want; want="$(sha256sum "$src/requirements.txt" | cut -d' ' -f1)"
    if [ "$(cat "$deps.stamp" 2>/dev/null)" != "$want" ]; then
        rm -rf "$deps" "$deps.stamp"
        # cp311 wheels for the functions' interpreter, whatever Python runs pip.
        logged ric-python "$PIP" install --disable-pip-version-check --no-compile \
            --target "$deps" --python-version 3.11 --implementation cp \
            --only-binary=:all: -r "$src/requirements.txt"
        echo "$want" >"$deps.stamp"
    fi
    cp -a "$deps/." "$stage/"
    rm -rf "$stage/bin"
    cp "$src/app.py" "$src/bootstrap" "$stage/"
    # The task root is read-only, so ship bytecode; unchecked-hash .pyc stay valid
    # whatever mtimes the unzip gives the sources.
    logged ric-python "$TARGET_PYTHON" -m compileall -q \
        --invalidation-mode unchecked-hash "$stage"
}

build_ric_node() {
    local stage; stage="$(fresh_stage ric-node)"
    local src="$EXAMPLES/ric/node"
    local deps="$CACHE/ric-node"
    local want; want="$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)"
    local ric="$deps/node_modules/aws-lambda-ric"
    if [ "$(cat "$deps.stamp" 2>/dev/null)" != "$want" ] || [ ! -f "$ric/dist/rapid-client.node" ]; then
        rm -rf "$deps" "$deps.stamp"
        mkdir -p "$deps"
        cp "$src/package.json" "$src/package-lock.json" "$deps/"
        # aws-lambda-ric compiles curl and aws-lambda-cpp in its install scripts
        # (a minute or two); the result is cached here until the lockfile changes.
        (cd "$deps" && logged ric-node "$NPM" ci --no-audit --no-fund --foreground-scripts)
        if [ ! -f "$ric/dist/rapid-client.node" ]; then
            echo "build-examples: ric-node: aws-lambda-ric's native client was not built" \
                "(did npm skip its install scripts?); see $LOGS/ric-node.log" >&2
            return 1
        fi
        rm -rf "$ric/deps"  # ~150 MB of compiler output, not needed at run time
        echo "$want" >"$deps.stamp"
    fi
    # At run time the client needs only its own bin/ and dist/ (with the native
    # rapid-client.node); its declared dependencies are build tools (node-gyp).
    mkdir -p "$stage/node_modules/aws-lambda-ric"
    local f
    for f in package.json bin dist LICENSE NOTICE THIRD-PARTY-LICENSES; do
        [ -e "$ric/$f" ] && cp -a "$ric/$f" "$stage/node_modules/aws-lambda-ric/"
    done
    cp "$src/index.js" "$src/package.json" "$src/bootstrap" "$stage/"
}

# A Node.js function using the AWS SDK for JavaScript v3 (S3), with its node_modules
# installed from the lockfile (cached until the lockfile changes).
build_sdk_node_s3() {
    local stage; stage="$(fresh_stage sdk-node-s3)"
    local src="$EXAMPLES/sdk/node-s3"
    local deps="$CACHE/sdk-node-s3"
    local want; want="$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)"
    if [ "$(cat "$deps.stamp" 2>/dev/null)" != "$want" ]; then
        rm -rf "$deps" "$deps.stamp"
        mkdir -p "$deps"
        cp "$src/package.json" "$src/package-lock.json" "$deps/"
        (cd "$deps" && logged sdk-node-s3 "$NPM" ci --no-audit --no-fund --omit=dev)
        echo "$want" >"$deps.stamp"
    fi
    cp -a "$deps/node_modules" "$stage/"
    cp "$src/index.mjs" "$src/package.json" "$stage/"
}

# A published observability extension, as a layer: the files of the npm package's
# extension.zip, unmodified (docs/extensions.md, tests/integration/test_published_extension.py).
build_sls_otel_extension() {
    local stage; stage="$(fresh_stage sls-otel-extension)"
    local src="$EXAMPLES/extensions/sls-otel"
    local deps="$CACHE/sls-otel-extension"
    local want; want="$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)"
    if [ "$(cat "$deps.stamp" 2>/dev/null)" != "$want" ]; then
        rm -rf "$deps" "$deps.stamp"
        mkdir -p "$deps"
        cp "$src/package.json" "$src/package-lock.json" "$deps/"
        (cd "$deps" && logged sls-otel-extension "$NPM" ci --no-audit --no-fund --omit=dev)
        echo "$want" >"$deps.stamp"
    fi
    # Unpacked with each file's mode (the extension and its wrapper are executables).
    "$PYTHON" - "$deps/node_modules/@serverless/aws-lambda-otel-extension-dist/extension.zip" \
        "$stage" <<'PY'
import os
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1]) as zf:
    for info in zf.infolist():
        path = zf.extract(info, sys.argv[2])
        mode = (info.external_attr >> 16) & 0o777
        if mode and not info.is_dir():
            os.chmod(path, mode)
PY
}

# The paired examples' Python half: the handler (plus its requirements, vendored as
# cp311 wheels like ric-python's), precompiled for the functions' interpreter.
build_paired_python() {
    local workload="$1" name="paired-$1-python"
    local stage; stage="$(fresh_stage "$name")"
    local src="$EXAMPLES/paired/$workload/python"
    if [ -f "$src/requirements.txt" ]; then
        local deps="$CACHE/$name-deps"
        local want; want="$(sha256sum "$src/requirements.txt" | cut -d' ' -f1)"
        if [ "$(cat "$deps.stamp" 2>/dev/null)" != "$want" ]; then
            rm -rf "$deps" "$deps.stamp"
            logged "$name" "$PIP" install --disable-pip-version-check --no-compile \
                --target "$deps" --python-version 3.11 --implementation cp \
                --only-binary=:all: -r "$src/requirements.txt"
            echo "$want" >"$deps.stamp"
        fi
        cp -a "$deps/." "$stage/"
        rm -rf "$stage/bin"
    fi
    cp "$src/app.py" "$stage/"
    logged "$name" "$TARGET_PYTHON" -m compileall -q --invalidation-mode unchecked-hash "$stage"
}

# The paired examples' Rust half: one cargo workspace (Debian's crates, offline), one
# binary per workload, shipped as `bootstrap`.
build_paired_rust() {
    local workload="$1" name="paired-$1-rust"
    local stage; stage="$(fresh_stage "$name")"
    local target="$BUILD/rust-target/paired"
    mkdir -p "$BUILD/cargo-home"
    (
        cd "$EXAMPLES/paired/rust"
        export CARGO_HOME="$BUILD/cargo-home" CARGO_TARGET_DIR="$target"
        logged "$name" "$CARGO" build --release --offline --locked -p "$workload"
    )
    cp "$target/release/$workload" "$stage/bootstrap"
}

for workload in "${PAIRED_WORKLOADS[@]}"; do
    eval "build_paired_${workload}_python() { build_paired_python $workload; }"
    eval "build_paired_${workload}_rust() { build_paired_rust $workload; }"
done

# --- driver ----------------------------------------------------------------------

hash_for() {
    case "$1" in
        hello-python) inputs_hash "" examples/hello/python ;;
        hello-node) inputs_hash "" examples/hello/node ;;
        hello-rust)
            inputs_hash "$("$CARGO" --version 2>/dev/null; rustc --version 2>/dev/null)" \
                examples/hello/rust/Cargo.toml examples/hello/rust/Cargo.lock \
                examples/hello/rust/.cargo examples/hello/rust/src ;;
        streaming-rust)
            inputs_hash "$("$CARGO" --version 2>/dev/null; rustc --version 2>/dev/null)" \
                examples/streaming/rust/Cargo.toml examples/streaming/rust/Cargo.lock \
                examples/streaming/rust/.cargo examples/streaming/rust/src ;;
        ric-python) inputs_hash "$("$TARGET_PYTHON" --version 2>&1)" examples/ric/python ;;
        ric-node) inputs_hash "$(node --version 2>/dev/null)" examples/ric/node ;;
        sdk-node-s3) inputs_hash "" examples/sdk/node-s3 ;;
        sls-otel-extension) inputs_hash "" examples/extensions/sls-otel ;;
        paired-*-python)
            local workload="${1#paired-}"; workload="${workload%-python}"
            inputs_hash "$("$TARGET_PYTHON" --version 2>&1)" "examples/paired/$workload/python" ;;
        paired-*-rust)
            local workload="${1#paired-}"; workload="${workload%-rust}"
            inputs_hash "$("$CARGO" --version 2>/dev/null; rustc --version 2>/dev/null)" \
                examples/paired/rust/Cargo.toml examples/paired/rust/Cargo.lock \
                examples/paired/rust/.cargo examples/paired/rust/runtime \
                "examples/paired/rust/$workload" ;;
    esac
}

build_one() {
    local name="$1" zip="$OUT/$1.zip" stamp="$OUT/$1.stamp"
    local hash; hash="$(hash_for "$name")"
    if [ "$force" -eq 0 ] && [ -f "$zip" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ]; then
        printf '%-13s up to date   %s (%s bytes)\n' "$name" "${zip#"$ROOT"/}" "$(stat -c %s "$zip")"
        return 0
    fi
    : >"$LOGS/$name.log"
    local started=$SECONDS
    "build_${name//-/_}"
    zip_dir "$STAGE/$name" "$zip"
    echo "$hash" >"$stamp"
    printf '%-13s built in %ds %s (%s bytes)\n' "$name" "$((SECONDS - started))" \
        "${zip#"$ROOT"/}" "$(stat -c %s "$zip")"
}

case "$set_of_names" in
    default) names=("${ALL_NAMES[@]}") ;;
    paired) names=("${PAIRED_NAMES[@]}") ;;
    all) names=("${KNOWN_NAMES[@]}") ;;
esac
[ -n "$only" ] && names=("$only")
for name in "${names[@]}"; do
    build_one "$name"
done

if [ -z "$only" ] && [ "$set_of_names" != paired ]; then
    PIP="$PIP" PYTHON="$PYTHON" TARGET_PYTHON="$TARGET_PYTHON" \
        bash "$EXAMPLES/events/build.sh" $([ "$force" -eq 1 ] && echo --force)
fi
