#!/bin/sh
# The main job: build the bundled example (examples/node-ts-api, a TypeScript HTTP API)
# from its naive Dockerfile and from its multi-stage one, and compare what ships.
# Base images (node:18, node:18-slim) are made locally from Debian packages with
# debootstrap (no Docker Hub), cached in /var/cache/etage-bench; the first run takes a
# few minutes, later runs hit etage's build cache.
set -eu
cd "$(dirname "$0")/.."
etage=.venv/bin/etage
ex=examples/node-ts-api
bases=${ETAGE_BENCH_DIR:-/var/cache/etage-bench}
bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }

bold "Base images (made once with debootstrap, then cached)"
.venv/bin/python bench/make_bases.py
for slug in node-18 node-18-slim; do
    name=$(echo "$slug" | sed 's/^node-/node:/')
    # load into the store unless it already holds that exact image
    want=$(sed 's/.*"digest":"\([^"]*\)".*/\1/' "$bases/oci/$slug/index.json")
    have=$($etage inspect --format json "$name" 2>/dev/null | .venv/bin/python -c \
        'import json,sys; print(json.load(sys.stdin)["digest"])' 2>/dev/null || true)
    [ "$want" = "$have" ] || $etage load -i "$bases/oci/$slug"
done

bold "\$ etage plan $ex"
$etage plan $ex
bold "\$ etage check -f $ex/Dockerfile.naive $ex"
$etage check -f $ex/Dockerfile.naive $ex || true

bold "\$ etage build -f $ex/Dockerfile.naive -t node-ts-api:naive $ex"
$etage build --progress plain -f $ex/Dockerfile.naive -t node-ts-api:naive $ex
bold "\$ etage build -t node-ts-api:multi $ex"
$etage build --progress plain -t node-ts-api:multi $ex

bold "What ships"
.venv/bin/python - "$etage" <<'PY'
import json, subprocess, sys

def size(ref):
    out = subprocess.run([sys.argv[1], "inspect", "--format", "json", ref],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["size"]

naive, multi = size("node-ts-api:naive"), size("node-ts-api:multi")
print(f"  node-ts-api:naive  {naive / 1e6:8.1f} MB")
print(f"  node-ts-api:multi  {multi / 1e6:8.1f} MB")
print(f"  the multi-stage image is {naive / multi:.2f}x smaller")
PY
