# The two commands of the README's Quick start.
.PHONY: demo test lint bench bench-build clean

demo:
	@scripts/setup.sh demo
	@scripts/demo.sh

test:
	@scripts/setup.sh test
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench
	.venv/bin/mypy
	.venv/bin/lint-imports
	.venv/bin/pytest -n auto

bench:
	@scripts/setup.sh test
	.venv/bin/python bench/bench_frontend.py
	.venv/bin/python bench/bench_context_walk.py
	.venv/bin/python bench/bench_compress.py
	.venv/bin/python bench/bench_pull.py

# etage vs BuildKit (dockerd 20.10, started privately) and buildah if installed: the
# node-ts-api example, N independent stages, a 2 GB layer. Root; about 30 minutes.
bench-build:
	@scripts/setup.sh test
	@command -v debootstrap >/dev/null || (apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null)
	.venv/bin/python bench/make_bases.py
	.venv/bin/python bench/bench_build.py
	.venv/bin/python bench/bench_stages.py
	.venv/bin/python bench/bench_big_layer.py

clean:
	rm -rf .venv .cache .pytest_cache .mypy_cache .ruff_cache .hypothesis
