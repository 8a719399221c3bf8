"""Class texts as vectors: token-frequency statistics, their stored builds, distances.

Job entry point: `store.run_build_text_stats`.
"""
