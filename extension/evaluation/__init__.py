"""Evaluating rows on images: metrics, the rows compared, the paper's protocol, few-shot,
WordNet groups.

Job entry points: `protocol.run_evaluation`, `fewshot.run_fewshot`.
"""
