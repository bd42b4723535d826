#!/bin/sh
# Makes a plain Debian bookworm base image on a machine that cannot pull one from a registry
# (`make base-image`; docs/deploy.md, "Building without a registry"). debootstrap fetches the
# packages from the Debian mirror apt already uses; the result is imported into the container
# engine as ${1:-localhost/cellposeweb-base:bookworm}. It has no Python: docker/Dockerfile adds
# Debian's python3 (3.11 on bookworm) when the base lacks it.
#
#   usage: docker/base-image.sh [image-name]     (ENGINE=podman|docker, MIRROR=http://... to choose)
set -eu

IMAGE="${1:-localhost/cellposeweb-base:bookworm}"
ENGINE="${ENGINE:-podman}"

if [ "$(id -u)" != 0 ]; then
    echo "base-image.sh: debootstrap needs root" >&2
    exit 2
fi
command -v debootstrap >/dev/null || {
    echo "base-image.sh: debootstrap is not installed (apt-get install debootstrap)" >&2
    exit 2
}

if [ -z "${MIRROR:-}" ]; then
    # The first Debian mirror apt is configured with (deb822 sources or the one-line format).
    MIRROR=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}')
    if [ -z "$MIRROR" ]; then
        MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '$1 == "deb" && $0 ~ /bookworm/ && $2 ~ /\/debian\/?$/ {print $2; exit}')
    fi
    MIRROR="${MIRROR:-http://deb.debian.org/debian}"
fi

ROOTFS=$(mktemp -d /tmp/cellposeweb-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT

echo "base-image.sh: debootstrap bookworm from $MIRROR" >&2
debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 || {
    tail -20 "$ROOTFS.log" >&2
    exit 1
}
rm -f "$ROOTFS.log"
# Image hygiene: no package lists or caches; the same apt sources as the official images.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb
{
    printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$MIRROR" "$MIRROR"
    case "$MIRROR" in */debian | */debian/) printf 'deb %s-security bookworm-security main\n' "${MIRROR%/}" ;; esac
} >"$ROOTFS/etc/apt/sources.list"

tar -C "$ROOTFS" -c . | "$ENGINE" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
echo "$IMAGE"
