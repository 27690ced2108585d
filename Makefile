# The two commands of the README's Quick start.
.PHONY: demo test lint bench clean

demo:
	@scripts/setup.sh
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

clean:
	rm -rf .venv .cache .pytest_cache .mypy_cache .ruff_cache .hypothesis
