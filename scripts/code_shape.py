"""The package's shape, from its source alone (standard library; nothing is imported).

    python scripts/code_shape.py            # import cycles, longest functions, sizes
    python scripts/code_shape.py --json     # the same as JSON

- Import cycles among lbp_outcomes modules (strongly connected components of the import
  graph): at run time, and with the imports under ``if TYPE_CHECKING:`` (annotations only)
  counted too.
- The longest function (lines) of the files named in issue 11 (train.py, cli.py, report/).
- Line counts of those files and ``.get(`` calls in the modules that read stage outputs.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "lbp_outcomes"
WATCHED = ["train.py", "cli.py", "report"]
# Modules that read other stages' outputs (where untyped hand-offs showed as .get calls).
READERS = ["external.py", "explain", "summary.py", "predict_output.py", "report"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _typing_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside ``if TYPE_CHECKING:`` blocks."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return out


def imports(path: Path, known: dict[str, Path], typing: bool = False) -> set[str]:
    """The lbp_outcomes modules ``path`` imports (``from pkg import mod`` resolved to mod);
    with ``typing``, also those imported for annotations only."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    skip = set() if typing else _typing_only(tree)
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("lbp_outcomes"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if not base.startswith("lbp_outcomes"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in known else base)
    out.discard(this)
    return {m for m in out if m in known}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _files(names: list[str]) -> list[Path]:
    out: list[Path] = []
    for name in names:
        path = PACKAGE / name
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


def longest_function(paths: list[Path]) -> tuple[str, int]:
    best = ("", 0)
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > best[1]:
                    best = (f"{path.relative_to(PACKAGE)}:{node.name}", length)
    return best


def get_calls(paths: list[Path]) -> int:
    count = 0
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
            ):
                count += 1
    return count


def shape() -> dict:
    known = modules()
    graph = {name: imports(path, known) for name, path in known.items()}
    typed = {name: imports(path, known, typing=True) for name, path in known.items()}
    watched = {}
    for name in WATCHED:
        files = _files([name])
        where, length = longest_function(files)
        watched[name] = {
            "lines": sum(len(p.read_text(encoding="utf-8").splitlines()) for p in files),
            "longest_function": where,
            "longest_function_lines": length,
        }
    return {
        "modules": len(known),
        "cycles": cycles(graph),
        "cycles_with_type_checking_imports": cycles(typed),
        "files": watched,
        "get_calls_in_stage_readers": get_calls(_files(READERS)),
        "get_calls_in_package": get_calls(_files(["."])),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = shape()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{result['modules']} modules; import cycles: {result['cycles'] or 'none'} (with "
            f"annotation-only imports: {result['cycles_with_type_checking_imports'] or 'none'})"
        )
        for name, info in result["files"].items():
            print(
                f"{name}: {info['lines']} lines; longest function {info['longest_function']} "
                f"({info['longest_function_lines']} lines)"
            )
        print(
            f".get( calls: {result['get_calls_in_stage_readers']} in the stage-output readers, "
            f"{result['get_calls_in_package']} in the package"
        )
    return 1 if result["cycles"] else 0


if __name__ == "__main__":
    sys.exit(main())
