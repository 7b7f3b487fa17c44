"""Does a plugin use only the public plugin API? (an AST scan, no import needed)"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from gateway.api import PUBLIC


def _is_gateway(module: str) -> bool:
    return module == "gateway" or module.startswith("gateway.")


def _is_built_in(module: str) -> bool:
    return module == "gateway_plugins" or module.startswith("gateway_plugins.")


def _uses(tree: ast.AST) -> Iterator[tuple[int, str, str | None]]:
    """(line, module, name) for every use of a ``gateway`` or ``gateway_plugins``
    module or name; ``name`` is None for a module itself."""
    aliases: dict[str, str] = {}  # local name → gateway module it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if _is_gateway(a.name) or _is_built_in(a.name):
                    yield node.lineno, a.name, None
                    if a.asname:
                        aliases[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and _is_built_in(node.module):
            yield node.lineno, node.module, None
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and _is_gateway(node.module):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                if sub in PUBLIC or (node.module == "gateway" and a.name not in PUBLIC["gateway"]):
                    # ``from gateway import logging``: a module, not a name
                    yield node.lineno, sub, None
                    aliases[a.asname or a.name] = sub
                else:
                    yield node.lineno, node.module, a.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            yield node.lineno, aliases[node.value.id], node.attr


def private_imports(target: Path | str | ModuleType, *, built_in: bool = False) -> list[str]:
    """Every use of a ``gateway`` module or name outside the public API
    (:data:`gateway.api.PUBLIC`, docs/api.md) in a plugin's source, as
    ``file:line: gateway.x.name``; imports of the built-in plugins
    (``gateway_plugins``) count too unless ``built_in`` (the built-ins
    themselves). ``target`` is a package or module, or a folder or file of
    Python sources. An empty list means the plugin is clean.
    """
    if isinstance(target, ModuleType):
        origin = getattr(target, "__file__", None)
        if origin is None:
            raise ValueError(f"module {target.__name__} has no source file")
        path = Path(origin)
        path = path.parent if path.name == "__init__.py" else path
    else:
        path = Path(target)
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    base = path if path.is_dir() else path.parent
    out = []
    for file in files:
        tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
        for line, module, name in _uses(tree):
            if _is_built_in(module):
                if built_in:
                    continue
                what = module if name is None else f"{module}.{name}"
            elif module not in PUBLIC:
                what = module if name is None else f"{module}.{name}"
            elif name is not None and name not in PUBLIC[module]:
                what = f"{module}.{name}"
            else:
                continue
            out.append(f"{file.relative_to(base).as_posix()}:{line}: {what}")
    return sorted(set(out), key=lambda s: (s.split(":")[0], int(s.split(":")[1]), s))
