"""Background jobs: a registry of job kinds, a progress reporter, and the single worker thread.

Library code never imports this package: `run_*` functions take a plain
`progress(fraction, message)` callable. This package adapts them to the `jobs` table.
"""
