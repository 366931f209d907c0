"""The layering rule: model/ imports neither app/ nor training/; app/ never imports training/;
app/engine/ (the inference core) never imports app/api/ (the HTTP side).

Checked two ways: statically over every source file's import statements (catches lazy imports inside
functions too), and dynamically by importing the packages in a fresh interpreter.
"""

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"model": {"app", "training"}, "app": {"training"}}


def _imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_forbidden_imports_in_source(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = _imported_top_levels(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "layering broken:\n" + "\n".join(offenders)


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_engine_never_imports_the_http_side() -> None:
    offenders = []
    for path in sorted((ROOT / "app" / "engine").rglob("*.py")):
        bad = sorted(n for n in _imported_modules(path) if n == "app.api" or n.startswith("app.api."))
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {bad}")
    assert not offenders, "app/engine must not know HTTP:\n" + "\n".join(offenders)


def test_engine_checker_sees_the_http_side(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    from app import api\n    from app.api.errors import ApiError\n")
    assert {"app.api", "app.api.errors"} <= _imported_modules(sample)


def test_checker_sees_lazy_imports(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    from training.cli import app\n    import app.api.factory\n")
    assert {"training", "app"} <= _imported_top_levels(sample)


def test_importing_model_loads_no_training_or_app_module() -> None:
    code = (
        "import sys, importlib, pkgutil, model\n"
        "for m in pkgutil.walk_packages(model.__path__, 'model.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('app', 'training'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# Distribution name -> the module it is imported as, where they differ.
IMPORT_NAMES = {
    "pillow": "PIL",
    "fasttext-numpy2": "fasttext",
    "faiss-cpu": "faiss",
    "scikit-learn": "sklearn",
    "pydantic-settings": "pydantic_settings",
    "prometheus-client": "prometheus_client",
    "python-multipart": "multipart",
}
# Installed with a core package and imported by its own name: starlette comes with fastapi.
ALSO_SERVED = {"starlette"}
# app/ray_serve.py runs only under the `ray` extra, and imports it inside its functions.
OPTIONAL = {"ray"}


def _serving_modules() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = set()
    for requirement in project["dependencies"]:
        dist = re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].strip().lower()
        names.add(IMPORT_NAMES.get(dist, dist.replace("-", "_")))
    return names | ALSO_SERVED


def test_app_and_model_import_only_the_serving_dependencies() -> None:
    """`pip install '.[serve]'` (the core set) must be enough for `tweetembed serve`: training-only
    packages (node2vec, tqdm, matplotlib, pyarrow, ...) live in the `train` extra."""
    allowed = _serving_modules() | OPTIONAL | set(sys.stdlib_module_names) | {"app", "model", "training"}
    offenders = []
    for package in ("app", "model"):
        for path in sorted((ROOT / package).rglob("*.py")):
            extra = _imported_top_levels(path) - allowed
            if extra:
                offenders.append(f"{path.relative_to(ROOT)} imports {sorted(extra)}")
    assert not offenders, "not in pyproject's core dependencies:\n" + "\n".join(offenders)
    assert {"tqdm", "matplotlib", "fastnode2vec", "pyarrow"}.isdisjoint(_serving_modules())
