"""Which names a class's own code uses, read from its compiled functions (how the app's patches check a library).

The app patches Streamlit and Starlette, and each patch first checks the library still uses the name it patches,
so an upgrade fails loudly instead of silently patching nothing. That check used to read the class's source with
``inspect.getsource``, which parses the whole module with ``ast.parse``. In CPython 3.11 that is not safe while
another thread parses too: the AST converter's recursion counter is shared by all threads, and a thread switch in
the middle raises ``SystemError: AST constructor recursion depth mismatch``. Streamlit runs each script and fragment
run in a thread of its own, so the app's entry point crashed now and then (a traceback on the page, and a webcam
start lost). The names a function uses are in its code object already (``co_names``): reading them parses nothing.
"""

from __future__ import annotations

import types


def _functions(value: object) -> list[types.FunctionType]:
    """The plain functions behind a class attribute (methods, static and class methods, property accessors)."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        accessors = (value.fget, value.fset, value.fdel)
        return [accessor for accessor in accessors if isinstance(accessor, types.FunctionType)]
    return [value] if isinstance(value, types.FunctionType) else []


def _code_names(code: types.CodeType, names: set[str]) -> None:
    names.update(code.co_names)
    for constant in code.co_consts:  # functions, lambdas and comprehensions defined inside
        if isinstance(constant, types.CodeType):
            _code_names(constant, names)


def class_code_names(cls: type) -> frozenset[str]:
    """Every global, attribute and imported name the functions defined in ``cls`` itself use (not inherited ones).

    ``"spool_max_size" in class_code_names(MultiPartParser)``: some method of the class reads or sets an attribute
    (or global) of that name. Thread-safe: nothing is parsed or compiled.
    """
    if not isinstance(cls, type):
        raise TypeError(f"class_code_names expects a class, got {type(cls).__name__}")
    names: set[str] = set()
    for value in vars(cls).values():
        for function in _functions(value):
            _code_names(function.__code__, names)
    return frozenset(names)
