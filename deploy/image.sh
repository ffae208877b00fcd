#!/bin/sh
# Build the edgeoffload image without any container registry (`make image`).
#
#   deploy/image.sh [TAG]        default TAG edgeoffload:latest
#
# Environment: PYTHON (the interpreter whose pip downloads the wheels; default python3),
# EXTRAS ("" or "ml": ONNX Runtime in the image), BASE (default edgeoffload-base:bookworm),
# DOCKER_HOST (an engine to build with; without one that answers, deploy/docker-engine.sh
# starts ours and leaves it running for the next build).
#
# Three steps, each for a reason:
# 1. The base image. No registry is reachable, so `FROM debian` is impossible: a minimal
#    bookworm root file system is made with debootstrap from the Debian mirror apt
#    already uses and `docker import`ed. Only when the engine does not have it yet: it
#    lives in the engine's data root, which is kept between runs.
# 2. The wheels. The build itself has no network (--network none; pip in a container
#    cannot reach any index here anyway), so the package and all its runtime
#    dependencies are fetched on the host, with the host's pip and its configuration,
#    into deploy/wheels (git-ignored), and installed in the build with --no-index.
# 3. The build, with the classic builder (DOCKER_BUILDKIT=0): BuildKit is not part of
#    Debian's docker.io 20.10.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
TAG=${1:-edgeoffload:latest}
BASE=${BASE:-edgeoffload-base:bookworm}
EXTRAS=${EXTRAS:-}
PYTHON=${PYTHON:-python3}

log() { echo "image.sh: $*" >&2; }
elapsed() { echo $(($(date +%s) - $1)); }

# --- the engine -------------------------------------------------------------------------
if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    log "no Docker engine answers at ${DOCKER_HOST:-the default socket}; starting ours"
    eval "export $("$HERE/docker-engine.sh" start)"
fi

# --- 1. the base image ------------------------------------------------------------------
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
    t0=$(date +%s)
    if [ "$(id -u)" != 0 ]; then
        log "building $BASE needs root (debootstrap); build it as root once, or set BASE"
        exit 3
    fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            debootstrap >&2
    fi
    # The mirror apt already uses (deb822 sources first, then the one-line format).
    MIRROR=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [ -z "$MIRROR" ]; then
        MIRROR=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' \
            /etc/apt/sources.list 2>/dev/null || true)
    fi
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
    ROOTFS=$(mktemp -d /var/tmp/edgeoffload-rootfs.XXXXXX)
    trap 'rm -rf "$ROOTFS"' EXIT INT TERM
    log "debootstrap bookworm from $MIRROR (about 40 s, mirror-bound)"
    # minbase: essential packages and apt only. python3-venv for `python3 -m venv` (it
    # brings ensurepip's pip wheel); ca-certificates for TLS to anything with a public
    # certificate. debootstrap merges /usr itself, so neither usrmerge nor perl comes in.
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 || {
        tail -n 20 "$ROOTFS.log" >&2
        rm -f "$ROOTFS.log"
        exit 1
    }
    rm -f "$ROOTFS.log"
    # What debootstrap leaves that no container needs: the downloaded .debs (45 MB), the
    # apt lists (49 MB), documentation, manual pages, translations.
    (cd "$ROOTFS" && rm -rf var/cache/apt/archives/*.deb var/cache/apt/*.bin \
        var/lib/apt/lists/* var/log/* usr/share/doc/* usr/share/man/* \
        usr/share/locale/* usr/share/info/*)
    tar -C "$ROOTFS" --numeric-owner -c . |
        docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
    rm -rf "$ROOTFS"
    trap - EXIT INT TERM
    log "base image $BASE built in $(elapsed "$t0") s"
fi

# --- 2. the wheels ----------------------------------------------------------------------
t0=$(date +%s)
# wheels/deps gets exactly the resolved set, afresh each time (pip's cache makes that a
# copy, byte for byte, so the build's dependency layer stays cached); the package's own
# wheel goes to wheels/app, its own layer.
rm -rf "$HERE/wheels/deps" "$HERE/wheels/app"
mkdir -p "$HERE/wheels/deps" "$HERE/wheels/app"
if ! "$PYTHON" -m pip wheel --quiet --disable-pip-version-check -w "$HERE/wheels/deps" \
    "$ROOT${EXTRAS:+[$EXTRAS]}" >"$HERE/wheels/pip.log" 2>&1; then
    grep -v "^WARNING: Location .* is ignored" "$HERE/wheels/pip.log" >&2
    exit 1
fi
mv "$HERE"/wheels/deps/edgeoffload-*.whl "$HERE/wheels/app/"
log "wheels in deploy/wheels ($(ls "$HERE/wheels/deps" | wc -l) dependencies) in $(elapsed "$t0") s"

# --- 3. the image -----------------------------------------------------------------------
t0=$(date +%s)
build() {
    DOCKER_BUILDKIT=0 docker build --network none --build-arg "BASE=$BASE" \
        --build-arg "EXTRAS=$EXTRAS" -f "$HERE/Dockerfile" "$@" "$HERE" \
        >>"$HERE/wheels/build.log" 2>&1 || {
        tail -n 40 "$HERE/wheels/build.log" >&2
        exit 1
    }
}
: >"$HERE/wheels/build.log"
# The dependency stage gets a tag of its own: a tagged image (and the chain of layers
# under it) is never pruned, so it stays the cache of the next build.
build --target deps -t "${TAG%:*}-deps:${TAG##*:}${EXTRAS:+-$EXTRAS}"
build -t "$TAG"
# Each build leaves the previous image and its package stage untagged; every stage is
# labelled, so this removes exactly those (and a dependency stage that was replaced),
# and the engine's data root does not grow by a quarter of a gigabyte per build.
docker image prune --force --filter label=org.edgeoffload.stage >/dev/null
log "image $TAG built in $(elapsed "$t0") s: $(docker image inspect --format '{{.Size}}' "$TAG") bytes"
