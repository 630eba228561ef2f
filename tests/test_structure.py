"""The shape the code keeps: three layers that import-linter guards, app.py as wiring, task names compared only in
the task registry."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from mtbert import tasks
from mtbert.layout import REPO

APP_FILES = [REPO / "app.py", *sorted((REPO / "mtbert" / "app").glob("*.py"))]
# Task-name comparisons allowed outside mtbert/tasks.py, with the reason for each.
ALLOWED_TASK_COMPARISONS: dict[str, str] = {}


def _contracts() -> list[dict]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_every_core_module_is_under_the_layer_contract():
    core = {f"mtbert.{p.stem}" for p in (REPO / "mtbert").glob("*.py") if p.stem != "__init__"}
    contract = next(c for c in _contracts() if c["forbidden_modules"] == ["mtbert.app", "mtbert.lab"])
    assert set(contract["source_modules"]) == core, "list a new core module in pyproject.toml's layer contract"


def test_app_py_is_wiring_and_app_functions_stay_short():
    assert len((REPO / "app.py").read_text().splitlines()) <= 150
    for path in APP_FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                assert length <= 80, f"{path.name}:{node.lineno} {node.name} is {length} lines"


def _task_comparisons(path: Path) -> list[str]:
    return _task_comparisons_in(path, REPO)


def _task_comparisons_in(path: Path, root: Path) -> list[str]:
    """Comparisons (==, !=, in, not in) with a task name, as a string or as the registry's constant."""
    names, constants = set(tasks.CS224N_TASKS), {"SENTIMENT", "PARAPHRASE", "SIMILARITY"}
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Compare):
            continue
        parts = [n for o in [node.left, *node.comparators] for n in ast.walk(o)]
        if any(isinstance(n, ast.Constant) and n.value in names for n in parts) or any(
            (isinstance(n, ast.Name) and n.id in constants) or (isinstance(n, ast.Attribute) and n.attr in constants)
            for n in parts
        ):
            found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_task_names_are_compared_only_in_the_task_registry():
    files = [REPO / "app.py", *REPO.glob("mtbert/**/*.py"), *REPO.glob("train/*.py")]
    found = [c for p in files if p.name != "tasks.py" for c in _task_comparisons(p)]
    assert sorted(found) == sorted(ALLOWED_TASK_COMPARISONS), found


def test_the_comparison_finder_finds_each_form(tmp_path):
    path = tmp_path / "x.py"
    lines = ['t == "sentiment"', "t != tasks.SIMILARITY", 't in ("paraphrase", "x")', "t == SENTIMENT", "t == other"]
    path.write_text("\n".join(lines) + "\n")
    found = [int(c.rsplit(":", 1)[1]) for c in _task_comparisons_in(path, tmp_path)]
    assert found == [1, 2, 3, 4]
