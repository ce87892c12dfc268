#!/usr/bin/env bash
# Builds the task image and smoke-tests it, wherever Docker runs (the CI machine has no Docker
# daemon: test/unit/task-image/dockerfile.test.ts checks the Dockerfile's text there instead).
#
#   bash scripts/task-image-smoke.sh                      # linux/amd64
#   PLATFORM=linux/arm64 bash scripts/task-image-smoke.sh # Graviton (needs buildx + QEMU or an arm64 host)
#   SMOKE_URL=postgres://postgres@host.docker.internal:5432/postgres bash scripts/task-image-smoke.sh
#
# Checks: every tool the engines spawn runs in the image (--version), the bundle starts as the
# image's user under an init process, with a read-only root and /tmp as the only writable place
# (as the task runs it), and, with SMOKE_URL, `dumpvault check` of a one-job config against that database.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v docker >/dev/null && docker info >/dev/null 2>&1 || {
  echo "task-image-smoke: no Docker daemon here; nothing built (the Dockerfile test still runs in npm test)" >&2
  exit 2
}
platform=${PLATFORM:-linux/amd64}
tag=dumpvault-task:smoke
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
# SMOKE_BUNDLE: an already built CLI bundle to put in the image instead of building one now.
bundle=${SMOKE_BUNDLE:-}
if [ -z "$bundle" ]; then
  npm run build --silent
  bundle=dist/dumpvault.mjs
fi
cp task-image/Dockerfile task-image/.dockerignore "$ctx/"
cp "$bundle" "$ctx/dumpvault.mjs"
docker build --platform "$platform" -t "$tag" "$ctx"
# As ECS runs it: an init process as PID 1 (the task definitions' initProcessEnabled; the image
# has none of its own), a read-only root and /tmp as the only writable place.
run=(docker run --rm --init --platform "$platform" --read-only --tmpfs /tmp --entrypoint "")
"${run[@]}" "$tag" sh -c 'id -u && echo "HOME=$HOME"'
for tool in pg_dump pg_restore psql mariadb-dump mariadb sqlite3 zstd mongodump mongorestore mongosh; do
  "${run[@]}" "$tag" sh -c "command -v $tool >/dev/null && $tool --version | head -1" \
    || { echo "task-image-smoke: $tool missing or broken in the image" >&2; exit 1; }
done
# Every PostgreSQL client major the image carries (the engine picks among them by server version).
"${run[@]}" "$tag" sh -c 'for m in /usr/lib/postgresql/*; do "$m/bin/pg_dump" --version; done'
"${run[@]}" "$tag" node /app/dumpvault.mjs --version
if [ -n "${SMOKE_URL:-}" ]; then
  "${run[@]}" --add-host host.docker.internal:host-gateway -e SMOKE_URL "$tag" sh -c '
    cd /tmp && printf "%s" "{\"destinations\":{\"tmp\":{\"type\":\"file\",\"path\":\"/tmp/b\"}},\"jobs\":[{\"name\":\"smoke\",\"engine\":\"${SMOKE_URL%%:*}\",\"source\":{\"url\":\"$SMOKE_URL\"},\"destinations\":[\"tmp\"]}]}" > c.json \
      && node /app/dumpvault.mjs check smoke --config c.json'
fi
echo "task-image-smoke: ok ($platform)"
