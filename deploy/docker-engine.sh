#!/bin/sh
# A Docker engine of our own, for `make image`, the container tests and the cold-start
# bench, on a machine where no engine runs (or none may be touched).
#
#   deploy/docker-engine.sh start   start it unless it already answers; print DOCKER_HOST=...
#   deploy/docker-engine.sh stop    stop it and clean up everything it left behind
#   deploy/docker-engine.sh status  exit 0 if it answers
#   deploy/docker-engine.sh env     print DOCKER_HOST=... (for eval)
#
# Why it looks like this:
# - dockerd runs in a network namespace of its own ($NETNS): its docker0 bridge, its
#   iptables rules and its containers' networks stay inside it, and the host's network is
#   never changed. Only the network namespace is entered (nsenter --net): `ip netns exec`
#   would also remount /sys, and dockerd then fails with "Devices cgroup isn't mounted".
# - The data root is in a stable place, so the base image and the build cache survive
#   between runs (a rebuild takes seconds, not the minute of a debootstrap); a fresh
#   machine simply starts with an empty one.
# - Containers in $NETNS are reached from the host with `ip netns exec $NETNS CMD` (or
#   nsenter --net), so all traffic stays on this machine.
# - Needs root (namespaces, cgroups, overlayfs). Installs docker.io with apt-get if
#   dockerd is missing.
#
# Settings (environment): DOCKER_ENGINE_NETNS, DOCKER_ENGINE_DATA, DOCKER_ENGINE_RUN; not
# EDGEOFFLOAD_*, which is the package's own configuration and refuses names it does
# not know.
set -eu

NETNS=${DOCKER_ENGINE_NETNS:-edgeoffload-docker}
DATA=${DOCKER_ENGINE_DATA:-/var/lib/edgeoffload-test-docker}
# Runtime state (sockets, pid file, container state): under /run, short paths (unix
# socket paths are limited to 108 bytes, containerd's shims nest deeply).
RUN=${DOCKER_ENGINE_RUN:-/run/edgeoffload-docker}
SOCK="$RUN/docker.sock"
EXEC="$RUN/exec"
PIDFILE="$RUN/docker.pid"
LOG="$RUN/dockerd.log"
export DOCKER_HOST="unix://$SOCK"

answers() {
    docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

has_netns() {
    ip netns list | awk -v n="$NETNS" '$1 == n { found = 1 } END { exit !found }'
}

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "docker-engine.sh: needs root (network namespace, cgroups, overlayfs)" >&2
        exit 3
    fi
}

install_missing() {
    if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
        if command -v apt-get >/dev/null 2>&1; then
            echo "docker-engine.sh: installing docker.io" >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
                docker.io >&2 || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -q --no-install-recommends docker.io >&2; }
        fi
    fi
    command -v dockerd >/dev/null 2>&1 || { echo "docker-engine.sh: no dockerd" >&2; exit 3; }
}

start() {
    if answers; then
        echo "DOCKER_HOST=$DOCKER_HOST"
        return 0
    fi
    need_root
    install_missing
    mkdir -p "$RUN" "$DATA"
    # A previous engine that died uncleanly: clear its leftovers first.
    stop >/dev/null 2>&1 || true
    mkdir -p "$RUN" "$DATA"
    if ! has_netns; then
        ip netns add "$NETNS"
    fi
    ip -n "$NETNS" link set lo up
    # setsid: the engine must not die with the shell (or test) that started it, and must
    # not get its terminal's signals; it is stopped by its pid file.
    # Containerd namespaces of our own: where a system containerd runs, dockerd uses it
    # instead of starting its own, and must not share a system engine's ("moby").
    setsid nsenter --net="/run/netns/$NETNS" dockerd \
        --data-root "$DATA" --exec-root "$EXEC" -H "unix://$SOCK" --pidfile "$PIDFILE" \
        --containerd-namespace edgeoffload --containerd-plugins-namespace edgeoffload-plugins \
        --log-level warn >"$LOG" 2>&1 </dev/null &
    i=0
    until answers; do
        i=$((i + 1))
        if [ "$i" -gt 300 ]; then
            echo "docker-engine.sh: dockerd did not answer within 30 s; its log:" >&2
            tail -n 20 "$LOG" >&2
            exit 4
        fi
        sleep 0.1
    done
    echo "DOCKER_HOST=$DOCKER_HOST"
}

stop() {
    need_root
    if [ -f "$PIDFILE" ]; then
        pid=$(cat "$PIDFILE")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            # dockerd stops its containers (10 s grace each, in parallel) and containerd.
            i=0
            while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 300 ]; do
                i=$((i + 1))
                sleep 0.1
            done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        fi
        rm -f "$PIDFILE"
    fi
    # dockerd leaves an nsfs bind mount of its namespace (and a mount per container
    # sandbox) under its exec root; they must go before the directory can be removed.
    if [ -d "$EXEC" ]; then
        grep -o " $EXEC/[^ ]*" /proc/self/mounts | sort -r | while read -r m; do
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        done
    fi
    rm -rf "$RUN"
    # containerd's shims keep their sockets in /run/containerd/s whatever the engine's
    # paths; the directories go if they are empty (a system containerd's are not).
    rmdir /run/containerd/s /run/containerd 2>/dev/null || true
    if has_netns; then
        ip netns del "$NETNS"
    fi
    # dockerd made /docker in every cgroup v1 hierarchy (outside our own cgroups); once
    # its containers are gone they are empty and can be removed.
    for d in /sys/fs/cgroup/*/docker; do
        [ -d "$d" ] || continue
        find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) answers ;;
env) echo "DOCKER_HOST=$DOCKER_HOST" ;;
*)
    echo "usage: $0 start|stop|status|env" >&2
    exit 2
    ;;
esac
