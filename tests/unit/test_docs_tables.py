"""docs/SERVICE.md's settings and error tables are what scripts/gen_docs_tables.py makes of the code."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import Field

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs_tables", ROOT / "scripts" / "gen_docs_tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_service_page_tables_are_up_to_date() -> None:
    gen = _generator()
    page = gen.PAGE.read_text(encoding="utf-8")
    assert gen.render(page) == page, "docs/SERVICE.md is stale: run `make docs`"


def test_every_setting_and_error_type_has_a_row() -> None:
    from app.api.errors import ERROR_STATUS
    from app.settings import Settings

    page = (ROOT / "docs" / "SERVICE.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"| `TWEETEMBED_{name.upper()}` |" in page
    for type_, status in ERROR_STATUS.items():
        assert f"| {status} | `{type_}` |" in page


def test_a_changed_description_or_error_type_makes_the_page_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.api import errors
    from app.settings import Settings

    gen = _generator()
    page = gen.PAGE.read_text(encoding="utf-8")
    field = Settings.model_fields["max_k"]
    monkeypatch.setitem(Settings.model_fields, "max_k", Field(7, description="a new meaning"))
    assert "a new meaning" in gen.render(page) and gen.render(page) != page
    monkeypatch.setitem(Settings.model_fields, "max_k", field)
    monkeypatch.setitem(errors.ERROR_STATUS, "teapot", 418)
    with pytest.raises(SystemExit, match="teapot"):
        gen.render(page)


def test_markers_must_be_there_once() -> None:
    gen = _generator()
    with pytest.raises(SystemExit, match="settings-table"):
        gen.replace_between("no markers here", "settings-table", "x")
    text = "a\n<!-- t: generated -->\nold\n<!-- /t -->\nb"
    assert gen.replace_between(text, "t", "new") == "a\n<!-- t: generated -->\nnew\n<!-- /t -->\nb"
