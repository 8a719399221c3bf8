"""Batch work beyond one machine: the Ray engine of the embedding and feature jobs.

The workbench stays one process over one DuckDB file; only the per-item work moves. A job
whose spec says `engine='ray'` hands its items to `scale.batch.run_vector_job`, which runs
the job's own "load the model once" + "batch -> vectors" pair on a pool of Ray actors (Ray
Data `map_batches`) and has them write the same `contract.vectors.VectorStore` shards the
local engine writes, so every reader of the store sees no difference.

- `scale.specs`: `ENGINES`, `ActorPoolSpec` (actors, CPUs and GPUs each), address checks.
- `scale.cluster`: `connect_ray` (a local instance, or an existing cluster by address),
  `ray_available`.
- `scale.batch`: `run_vector_job`, `compute_pool_resources`.

This package imports only `contract` and third-party packages; Ray is an optional extra
(`pip install '.[scale]'`) imported when a job runs, so everything else works without it.
"""
