#!/bin/sh
# The main job for now: plan and check the bundled example, the naive Dockerfile
# and the multi-stage one. (`etage build` comes with the build engine.)
set -u
cd "$(dirname "$0")/.."
etage=.venv/bin/etage
ex=examples/node-ts-api
status=0
run() {
    printf '\n\033[1m$ %s\033[0m\n' "$*"
    "$@" || { code=$?; [ "$code" -le 1 ] || status=$code; }
}
run $etage plan $ex
run $etage plan --target test --format mermaid $ex
run $etage check $ex
run $etage check -f $ex/Dockerfile.naive $ex
exit $status
