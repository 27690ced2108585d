#!/bin/sh
# Set up etage in ./.venv on a fresh Debian 12 machine (root, no Docker).
#   scripts/setup.sh          the tool only
#   scripts/setup.sh demo     the tool and what the demo build needs (runc, debootstrap)
#   scripts/setup.sh test     the tool, the test dependencies and test data
set -eu
cd "$(dirname "$0")/.."

need_apt=""
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || need_apt="$need_apt python3"
python3 -m venv --help >/dev/null 2>&1 || need_apt="$need_apt python3-venv"
if [ "${1:-}" = demo ]; then
    # RUN steps go through runc; the demo's base images are made with debootstrap.
    for pkg in runc debootstrap; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need_apt="$need_apt $pkg"
    done
fi
if [ "${1:-}" = test ]; then
    # Real components the tests run: a registry server, skopeo and umoci as second
    # implementations, dockerd to load and run what etage writes, busybox for base images,
    # debootstrap for the demo's Node base images, chromium to render the HTML report.
    command -v npm >/dev/null 2>&1 || need_apt="$need_apt npm"
    for pkg in docker-registry skopeo umoci apache2-utils docker.io runc busybox-static zstd \
        debootstrap chromium; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need_apt="$need_apt $pkg"
    done
fi
if [ -n "$need_apt" ]; then
    echo "setup: installing Debian packages:$need_apt"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need_apt >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
mode=${1:-tool}
if [ "$mode" = demo ]; then mode=tool; fi
stamp=".venv/.etage-installed-$(sha256sum pyproject.toml | cut -c1-16)-$mode"
if [ ! -e "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
    if [ "$mode" = test ]; then
        .venv/bin/python -m pip install -q -e '.[test]'
    else
        .venv/bin/python -m pip install -q -e .
    fi
    touch "$stamp"
fi

if [ "${1:-}" = test ]; then
    # The SARIF 2.1.0 JSON schema, to validate etage's SARIF output. It ships in the
    # npm package @microsoft/jest-sarif (the npm registry is reachable; GitHub is not).
    schema=.cache/sarif-schema-2.1.0.json
    if [ ! -s "$schema" ]; then
        mkdir -p .cache/npm-sarif
        (cd .cache/npm-sarif && npm pack --silent @microsoft/jest-sarif@1.0.0-beta.0 >/dev/null 2>&1 \
            && tar -xzf microsoft-jest-sarif-1.0.0-beta.0.tgz package/lib/schemas/sarif-2.1.0-rtm.5.json)
        cp .cache/npm-sarif/package/lib/schemas/sarif-2.1.0-rtm.5.json "$schema"
    fi
fi
