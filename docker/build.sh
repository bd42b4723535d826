#!/bin/sh
# Builds the CPU image (`make images`): the torch CPU wheel staged in docker/wheels/ once, the base
# image chosen, the build, and the image's size. Settings from the environment:
#   IMAGE       the tag (cellposeweb:cpu)
#   BASE_IMAGE  the base; "auto" (the default): python:3.11-slim-bookworm when it is present or can be
#               pulled, else the local Debian base (made with docker/base-image.sh if missing)
#   ENGINE      docker or podman (docker/engine.sh chooses)
set -eu
cd "$(dirname "$0")/.."

IMAGE="${IMAGE:-cellposeweb:cpu}"
BASE_IMAGE="${BASE_IMAGE:-auto}"
OFFICIAL=python:3.11-slim-bookworm
LOCAL_BASE=localhost/cellposeweb-base:bookworm
TORCH_VERSION=2.13.0
ENGINE=$(docker/engine.sh)
PY="${PY:-python3}"

have_image() { "$ENGINE" image inspect "$1" >/dev/null 2>&1; }

if [ "$BASE_IMAGE" = auto ]; then
    if have_image "$OFFICIAL" || "$ENGINE" pull -q "$OFFICIAL" >/dev/null 2>&1; then
        BASE_IMAGE=$OFFICIAL
    else
        echo "build.sh: $OFFICIAL cannot be pulled here; building on the local Debian base $LOCAL_BASE" >&2
        BASE_IMAGE=$LOCAL_BASE
    fi
fi
if [ "$BASE_IMAGE" = "$LOCAL_BASE" ] && ! have_image "$LOCAL_BASE"; then
    ENGINE="$ENGINE" docker/base-image.sh "$LOCAL_BASE" >/dev/null
fi

# The wheelhouse: every Python package of the image, the CPU build of torch included, fetched on
# this host with its pip (its index, proxies and certificates), so the build needs no index and never
# sees the CUDA build of torch. Only where the host's Python is the image's (CPython 3.11 on x86-64
# Linux); elsewhere the build downloads them itself (WHEELHOUSE=0).
wheelhouse=0
if "$PY" -c 'import platform, sys; sys.exit(not (sys.version_info[:2] == (3, 11) and platform.machine() == "x86_64" and sys.platform == "linux"))' 2>/dev/null; then
    "$PY" docker/requirements.py >docker/wheels/requirements.txt
    echo "torch==$TORCH_VERSION+cpu" >>docker/wheels/requirements.txt
    if ! cmp -s docker/wheels/requirements.txt docker/wheels/filled-for.txt; then
        # One resolution only (the build installs every wheel here): refilled whole, torch kept.
        mkdir -p docker/wheels/torch
        mv docker/wheels/torch-"$TORCH_VERSION"+cpu-cp311-*.whl docker/wheels/torch/ 2>/dev/null || true
        rm -f docker/wheels/*.whl docker/wheels/filled-for.txt
        ls docker/wheels/torch/torch-*.whl >/dev/null 2>&1 || \
            "$PY" -m pip download "torch==$TORCH_VERSION+cpu" --no-deps --only-binary=:all: \
                --index-url https://download.pytorch.org/whl/cpu -d docker/wheels/torch -q
        "$PY" -m pip wheel -q -w docker/wheels --find-links docker/wheels/torch -r docker/wheels/requirements.txt
        rm -rf docker/wheels/torch
        cp docker/wheels/requirements.txt docker/wheels/filled-for.txt
    fi
    wheelhouse=1
    # The host's pip certificates (a TLS-inspecting proxy's), for the build's pip to reach the index.
    ca="${PIP_CERT:-$("$PY" -m pip config get global.cert 2>/dev/null || true)}"
    if [ -n "$ca" ] && [ -r "$ca" ]; then cp "$ca" docker/wheels/pip-ca.crt; else rm -f docker/wheels/pip-ca.crt; fi
else
    echo "build.sh: $PY is not CPython 3.11 on x86-64 Linux: the build downloads the packages itself" >&2
fi

format=""
[ "$ENGINE" = podman ] && format="--format docker"  # OCI images cannot carry a HEALTHCHECK
started=$(date +%s)
# shellcheck disable=SC2086
"$ENGINE" build $format -f docker/Dockerfile -t "$IMAGE" \
    --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg WHEELHOUSE="$wheelhouse" .
seconds=$(( $(date +%s) - started ))
size=$("$ENGINE" image inspect --format '{{.Size}}' "$IMAGE")
echo "build.sh: $IMAGE on $BASE_IMAGE with $ENGINE: $(( size / 1000000 )) MB, built in ${seconds} s"
