"""Adding classes to a trained classifier from text, and measuring how well that works.

Rooms by concern:
- `text/`: per-class token-frequency statistics (`stats`), their stored builds (`store`),
  cosine / Euclidean distances and the paper's Table 1 (`distances`);
- `images/`: image files and limits (`files`), the one feature store (`store`), registered
  image sets (`sets`), uploads and the sample photos (`uploads`);
- `synthesis/`: donor classes (`donors`), the registry of methods (`methods`), leave-one-out
  (`loo`), a class added from text (`new_class`), the extended-model export (`export`);
- `evaluation/`: every metric (`metrics`), the rows compared (`heads`), the paper's protocol
  (`protocol`), the few-shot baseline (`fewshot`), WordNet groups (`hierarchy`);
- `models.py`: timm glue (base classifier, head, model key); `specs.py`: every job spec.

Job entry points (`run_*(con, spec, progress)`): `text.store.run_build_text_stats`,
`images.sets.run_embed_image_set`, `synthesis.loo.run_loo`, `synthesis.new_class.run_add_class`,
`synthesis.export.run_export`, `evaluation.protocol.run_evaluation`,
`evaluation.fewshot.run_fewshot`.
"""
