"""Text encoders and the one keyed text-vector cache, below both curation/ and extension/.

- `registry`: encoder aliases (`OFFLINE_ENCODER`, `register_encoder`, `resolve_encoder_source`);
- `loading`: `load_encoder` (offline only, refusing pickled weights) and `compute_encoder_key`
  (the encoder's identity: name slug + weights hash);
- `batching`: tokenization and length-bucketed batches;
- `pooling`: mean pooling and `compute_text_features`, the pure forward pass over texts;
- `cache`: `load_text_features`, the one resumable cache of text vectors (relevance features,
  caption search, class-text embeddings), with its local engine; `ray`: the Ray engine;
- `text_encoder`: `TextEncoder`, a loaded encoder bound to its cache (unit vectors).

Imports only `contract/` (and `scale/` lazily, for the Ray engine); torch and transformers
are imported where used.
"""
