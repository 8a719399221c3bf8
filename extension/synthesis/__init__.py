"""Synthesizing head rows from text: donors, methods, calibration, neighbours, leave-one-out,
new classes, export.

Job entry points: `loo.run_loo`, `new_class.run_add_class`, `export.run_export`.
"""
