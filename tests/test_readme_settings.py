"""The README's settings tables give each setting's default: they must be the defaults
of secgate.settings.Settings (a default changed in the code and not in the README is
what an operator would be misled by)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from secgate.settings import PROJECT_ROOT, Settings

README = PROJECT_ROOT / "README.md"
# | `SECGATE_A`, `SECGATE_B` | `1`, `2` (note) | what they do |
_ROW = re.compile(r"^\| ((?:`SECGATE_\w+`(?:, )?)+) \| ([^|]*) \|", re.MULTILINE)
_NAME = re.compile(r"`(SECGATE_\w+)`")
_VALUE = re.compile(r"`([^`]*)`")
# Defaults that depend on where the checkout is, or are made on first run: the README
# says where they live, not a value to compare.
_PLACED = {
    "SECGATE_DATABASE_URL",
    "SECGATE_GEOIP_DB",
    "SECGATE_SECRET_KEY",
    "SECGATE_VAR_DIR",
    "SECGATE_REDIS_URL",
}


def documented_defaults() -> list[tuple[str, str]]:
    """(variable, default as the README writes it) for every row that gives one value
    per variable; "empty" is the empty string."""
    found = []
    for names_cell, values_cell in _ROW.findall(README.read_text(encoding="utf-8")):
        names = _NAME.findall(names_cell)
        values = _VALUE.findall(values_cell)
        if values_cell.strip() == "empty":
            values = [""] * len(names)
        if len(values) == len(names):
            # "`secgate/checks/data/a.txt`, `…/b.txt`": the second beside the first.
            values = [value.replace("…/", os.path.dirname(values[0]) + "/") for value in values]
            found.extend(zip(names, values, strict=True))
    return found


DOCUMENTED = [(name, value) for name, value in documented_defaults() if name not in _PLACED]


def test_the_readme_documents_most_settings() -> None:
    # A guard on the parsing above: a change of the tables' layout must not make the
    # test below compare nothing.
    assert len(DOCUMENTED) >= 60


@pytest.mark.parametrize(("variable", "documented"), DOCUMENTED)
def test_the_documented_default_is_the_default(variable: str, documented: str) -> None:
    field = variable.removeprefix("SECGATE_").lower()
    default = getattr(Settings.from_env({}), field)
    if isinstance(default, Path):
        # Paths are written relative to the checkout.
        assert default == PROJECT_ROOT / documented
    elif documented == "":
        assert not default
    else:
        assert getattr(Settings.from_env({variable: documented}), field) == default
