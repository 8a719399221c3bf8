# The two commands of the README. Both set everything up first (idempotent).
.PHONY: run test demo lint bench mutate

run:  ## set up, build the embedded default database if needed, start the app on localhost:8501
	bash scripts/bootstrap.sh
	.venv/bin/workbench run --headless

test:  ## set up (incl. Chromium for the browser test) and run every test
	bash scripts/bootstrap.sh --browser
	.venv/bin/python -m pytest -q

demo:  ## only build the embedded default database (data/workbench.duckdb)
	bash scripts/bootstrap.sh
	.venv/bin/workbench build-demo

mutate:  ## mutation check: listed slips in the science and data-safety code must fail their tests (a few min)
	bash scripts/bootstrap.sh
	.venv/bin/python scripts/mutate.py

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench:  ## every benchmark, one after another (about 30 min on 2 cores); results in benchmarks/results/
	bash scripts/bootstrap.sh --scale
	.venv/bin/python benchmarks/bench_text_stats.py
	.venv/bin/python benchmarks/bench_relevance.py
	.venv/bin/python benchmarks/bench_noise.py
	.venv/bin/python benchmarks/bench_captions.py
	.venv/bin/python benchmarks/bench_loo.py
	.venv/bin/python benchmarks/bench_loo_pool.py
	.venv/bin/python benchmarks/bench_text_embedding.py
	.venv/bin/python benchmarks/bench_paper_chart.py
	.venv/bin/python benchmarks/bench_scale.py --repeats 3
