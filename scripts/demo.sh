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

meta=$(mktemp -d)
trap 'rm -rf "$meta"' EXIT
bold "\$ etage build -f $ex/Dockerfile.naive -t node-ts-api:naive $ex"
$etage build --progress plain --metadata-file "$meta/naive.json" -f $ex/Dockerfile.naive \
    -t node-ts-api:naive $ex
bold "\$ etage build -t node-ts-api:multi $ex"
$etage build --progress plain --metadata-file "$meta/multi.json" -t node-ts-api:multi $ex

bold "What ships"
.venv/bin/python - "$meta" <<'PY'
import json, sys

def summary(kind):
    with open(f"{sys.argv[1]}/{kind}.json") as f:
        return json.load(f)["etage.build.summary"]

naive, multi = summary("naive"), summary("multi")
for name, s in (("naive", naive), ("multi", multi)):
    image = s["image"]
    print(f"  node-ts-api:{name:<6} {image['size'] / 1e6:8.1f} MB of files,"
          f" {image['compressed'] / 1e6:7.1f} MB compressed, {len(s['findings'])} findings")
ratio = naive["image"]["size"] / multi["image"]["size"]
pulled = naive["image"]["compressed"] / multi["image"]["compressed"]
print(f"  the multi-stage image is {ratio:.2f}x smaller ({pulled:.2f}x less to pull)")
PY

bold "\$ etage check --image node-ts-api:naive   (what the naive image ships that it should not)"
$etage check --image node-ts-api:naive || true
bold "\$ etage check --image node-ts-api:multi"
$etage check --image node-ts-api:multi
report=${ETAGE_DEMO_REPORT:-/tmp/node-ts-api-naive.html}
bold "\$ etage report node-ts-api:naive --format html -o $report"
$etage report node-ts-api:naive --format html -o "$report"
echo "open $report in a browser: size by stage, layer and directory, and the findings"
