"""What every job shares, and nothing else of the project: spec JSON (`specs.JsonSpec`), the
`progress(fraction, message)` callable (`progress`), file hashing (`files`) and the choice of
device (`devices`). It imports no other package of the workbench, so every layer may use it.
"""
