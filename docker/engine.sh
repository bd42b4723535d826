#!/bin/sh
# Prints the container engine to use: $ENGINE if set, else docker when its daemon answers, else
# podman when it works. Exits 1, saying why on stderr, when neither can run containers.
set -eu

if [ -n "${ENGINE:-}" ]; then
    "$ENGINE" info >/dev/null 2>&1 || { echo "engine.sh: $ENGINE is set but '$ENGINE info' fails" >&2; exit 1; }
    echo "$ENGINE"
    exit 0
fi
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    echo docker
elif command -v podman >/dev/null 2>&1 && podman info >/dev/null 2>&1; then
    echo podman
else
    why="neither docker (with a running daemon) nor podman is available"
    command -v docker >/dev/null 2>&1 && why="$why; docker is installed but its daemon does not answer"
    echo "engine.sh: $why (make container-engine installs podman)" >&2
    exit 1
fi
