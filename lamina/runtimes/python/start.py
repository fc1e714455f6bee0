"""The Python runtime's entry point: ``python3.X /var/runtime/python/start.py``.

CPython compiles a script from source at every start (only imported modules use the
bytecode cache), so this file stays a few lines: it runs ``bootstrap.py`` as ``__main__``
from the bytecode the platform compiled ahead (``lamina.runtimes.bytecode``), or from source
when there is none. Loading it as ``__main__`` rather than importing it keeps the name
``bootstrap`` free for a module of the function's own.
"""

import sys
from importlib.machinery import SourceFileLoader  # frozen: costs nothing at start-up

_source = __file__.rpartition("/")[0] + "/bootstrap.py"
_main = sys.modules["__main__"]
_main.__file__ = _source
_code = SourceFileLoader("__main__", _source).get_code("__main__")
if _code is None:  # a source loader always returns code; this keeps type checkers sure
    raise SystemExit(f"cannot load {_source}")
exec(_code, _main.__dict__)
