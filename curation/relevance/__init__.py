"""Caption relevance (the first paper's filter): which class does a caption describe?

- `specs`: frozen DatasetSpec / TrainSpec / ScoringSpec, stored as JSON with every result;
- `dataset`: captions with more than one word, per-class 77/23 split, 2-10 description
  sentences per class, (caption, sentence) training pairs;
- `model`: any HF encoder -> mean pooling -> dropout 0.25 -> Linear over classes -> sigmoid;
- `checkpoint`: safetensors weights + JSON class set/encoder, refused for another class set;
- `train`: `run_train_relevance` (mixed precision on CUDA, bucketed batches, resume, early stop);
- `score`: `run_score_relevance` (each caption alone: P(own class), mean P);
- `rules`: drop / keep and the uniform relevance coefficient; human decisions win;
- `export`: curated parquet + class descriptions + dataset card;
- `tiny`: a tiny RoBERTa + BPE tokenizer for tests and quick CPU runs.

torch/transformers are imported inside functions only (see DESIGN.md).
"""
