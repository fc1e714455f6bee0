"""Lamina on many machines: node agents on a Ray cluster, placement, code distribution.

An optional extra (``pip install lamina[cluster]``): nothing here imports Ray at module
level, so ``import lamina`` and single-machine ``lamina serve`` never need it.
"""
