"""Which error kinds an operation can return, read from its code, for the API document.

A concept author writes ``return fail("...", "rate_limited")`` and nothing else:
the OpenAPI document lists a 429 for that route because this module finds the
call. It reads the concept's source with ``ast``: every ``fail(message, kind)``
(the default kind is ``conflict``) and every literal ``"errorKind"`` in the
operation, and in the methods of its class and functions of its module that it
calls, transitively. A kind it cannot read (not a literal) counts as every kind,
so the document may say too much but never too little; a test compares the
statuses routes really give against the document.
"""

from __future__ import annotations

import ast
import functools
import inspect
import sys
import textwrap

from ._concept import ERROR_KINDS

__all__ = ["error_kinds_of"]

_Functions = dict[str, ast.FunctionDef | ast.AsyncFunctionDef]


@functools.cache  # a class's code does not change while it runs; parsing it is not cheap
def error_kinds_of(cls: type, name: str) -> frozenset[str]:
    """The error kinds ``cls.name`` can return (every kind if its source cannot be read)."""
    try:
        methods, functions = _definitions(cls)
    except (OSError, TypeError, SyntaxError):
        return frozenset(ERROR_KINDS)
    if name not in methods:
        return frozenset(ERROR_KINDS)
    kinds: set[str] = set()
    seen: set[str] = set()
    todo = [("method", name)]
    while todo:
        where, fname = todo.pop()
        if (where, fname) in seen:
            continue
        seen.add((where, fname))
        node = (methods if where == "method" else functions).get(fname)
        if node is None:
            continue
        for child in ast.walk(node):
            kinds |= _kinds_in(child)
            if isinstance(child, ast.Call):
                todo.extend(_callee(child.func, methods, functions))
    return frozenset(kinds)


@functools.cache
def _definitions(cls: type) -> tuple[_Functions, _Functions]:
    """Methods of the class and its concept bases, and functions of their modules."""
    methods: _Functions = {}
    functions: _Functions = {}
    for klass in reversed([k for k in cls.__mro__ if k.__module__ != "conceptkit._concept"]):
        if klass is object:
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        (definition,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
        methods.update(_functions_in(definition.body))
        module = sys.modules.get(klass.__module__)
        if module is not None:
            functions.update(_module_functions(module))
    return methods, functions


@functools.cache
def _module_functions(module: object) -> _Functions:
    return _functions_in(ast.parse(inspect.getsource(module)).body)


def _functions_in(body: list[ast.stmt]) -> _Functions:
    return {n.name: n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _kinds_in(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Call) and _name(node.func) == "fail":
        given = node.args[1] if len(node.args) > 1 else None
        for keyword in node.keywords:
            if keyword.arg == "kind":
                given = keyword.value
        if given is None:
            return {"conflict"}
        return _literal_kinds(given)
    if isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == "errorKind":
                return _literal_kinds(value)
    return set()


def _literal_kinds(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Constant) and node.value in ERROR_KINDS:
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _literal_kinds(node.body) | _literal_kinds(node.orelse)
    return set(ERROR_KINDS)


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _callee(func: ast.expr, methods: _Functions, functions: _Functions) -> list[tuple[str, str]]:
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id in ("self", "cls")
        and func.attr in methods
    ):
        return [("method", func.attr)]
    if isinstance(func, ast.Name) and func.id in functions:
        return [("function", func.id)]
    return []
