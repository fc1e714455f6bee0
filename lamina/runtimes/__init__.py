"""Lamina's built-in runtimes: the Python and Node.js bootstraps, and which command runs each.

``python/bootstrap.py`` (started through ``python/start.py``) and ``node/bootstrap.mjs`` are not
imported by Lamina: they run inside execution environments, under the function's own
interpreter. :mod:`lamina.runtimes.registry` decides which interpreter that is, and
:mod:`lamina.runtimes.bytecode` compiles the Python runtime for it ahead of time.
"""
