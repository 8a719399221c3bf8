"""Class texts as vectors: token-frequency statistics, their stored builds, distances, and
sentence embeddings of the class texts (the third distance).

Job entry points: `store.run_build_text_stats`, `embedding.run_embed_class_texts`.
"""
