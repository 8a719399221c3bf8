"""Cleaning the text metadata of an image dataset.

- `catalog`: the 1000 ImageNet-1k classes and added classes (timm package data);
- `descriptions`, `description_sources`, `description_imports`: candidate texts per class,
  the active description, its history with undo;
- `captions`, `imagenet_x`: per-image texts (ImageNet-Captions files, the ImageNet-X default);
- `demo`: the embedded default database;
- `relevance/`: the caption relevance model (see its package docstring).

Job entry points (`run_*(con, spec, progress)`): `captions.run_ingest_captions`,
`relevance.train.run_train_relevance`, `relevance.score.run_score_relevance`.
"""
