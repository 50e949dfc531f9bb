"""The layout's rules, read from the code's own imports: the flow runs one way.

- no import circle anywhere (imports inside functions count too);
- model/ is pure (imports nothing of the project but itself), cache/ imports only cache/,
  extractors/ never pipeline/;
- cli.py imports only pipeline and the standard library;
- pipeline/ shows its stages as sub-packages; the lower packages (config, data, infer) never
  import a stage; a stage imports another only where it runs it as a step (localize extracts);
- no function outside tests runs past 80 lines.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("cache", "extractors", "model", "pipeline")
STAGES = ("extract", "train", "evaluate", "localize")
LOWER = ("config", "data", "infer")  # config: the composed Config and the stages' sections, below every stage
STAGE_STEPS = {("localize", "extract")}  # localize runs extract on the videos it was given
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    found = {"cli": ROOT / "cli.py"}
    for package in PROJECT_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Project modules `path` imports (at any depth of its code)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name in MODULES}


GRAPH = {module: _imports(path) - {module} for module, path in MODULES.items()}


def _top(module: str) -> str:
    return module.split(".")[0]


def _sub(module: str) -> str | None:
    """The sub-package of pipeline/ that `module` belongs to (its own __init__.py included)."""
    parts = module.split(".")
    is_package = MODULES[module].name == "__init__.py"
    return parts[1] if parts[0] == "pipeline" and (len(parts) > 2 or (len(parts) == 2 and is_package)) else None


def test_no_import_circle():
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                circle = path[path.index(target):] + [target]
                raise AssertionError("import circle: " + " -> ".join(circle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_lower_layers_import_nothing_above_them():
    for module, targets in GRAPH.items():
        tops = {_top(target) for target in targets}
        if _top(module) == "model":
            assert tops <= {"model"}, f"{module} (the pure model) imports {sorted(targets)}"
        if _top(module) == "cache":
            assert tops <= {"cache"}, f"{module} imports {sorted(targets)}"
        if _top(module) == "extractors":
            assert "pipeline" not in tops, f"{module} imports {sorted(t for t in targets if _top(t) == 'pipeline')}"


def test_cli_imports_only_pipeline_and_the_standard_library():
    tree = ast.parse((ROOT / "cli.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots = [node.module.split(".")[0]]
        else:
            continue
        for name in roots:
            assert name == "pipeline" or name in sys.stdlib_module_names or name == "__future__", (
                f"cli.py imports {name}"
            )


def test_stages_are_sub_packages_and_only_run_each_other_as_declared_steps():
    packages = {path.parent.name for path in (ROOT / "pipeline").glob("*/__init__.py")}
    assert set(STAGES) | set(LOWER) <= packages
    for module, targets in GRAPH.items():
        sub = _sub(module)
        for target in targets:
            other = _sub(target)
            if sub in LOWER:
                assert other not in STAGES, f"{module} (a lower package) imports the stage module {target}"
            if sub in STAGES and other in STAGES and other != sub:
                assert (sub, other) in STAGE_STEPS, f"stage {sub} imports stage {other} ({module} -> {target})"


def test_no_function_runs_past_a_screen():
    long = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "functions over 80 lines: " + ", ".join(long)
