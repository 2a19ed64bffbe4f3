#!/usr/bin/env bash
# Stops what services-up.sh started in $W (default .services), by pid file only.
set -u
W=$(realpath -m "${W:-.services}")
if [ -f "$W/containers.conf" ]; then
  export CONTAINERS_CONF="$W/containers.conf" CONTAINERS_STORAGE_CONF="$W/storage.conf" CONTAINERS_REGISTRIES_CONF="$W/registries.conf"
  podman stop -a -t 0 >/dev/null 2>&1 || true
  podman rm -af -t 0 >/dev/null 2>&1 || true
fi
for f in caddy.pid podman.pid registry.pid registry-token.pid ssh/sshd.pid redis.pid; do
  [ -s "$W/$f" ] || continue
  p=$(cat "$W/$f"); kill "$p" 2>/dev/null && echo "stopped $f ($p)"
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  rm -f "$W/$f"
done
