"""Settings are composed, each default written once: in the package's own settings class (``rooms/settings.py``, …),
never again in ``hub/settings.py``, which only maps ``HUB_*`` variables onto fields. The README's settings table names
exactly the variables the hub reads, with the defaults the classes have."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from hub.settings import GENERATED, HUB_VARS, SHARED, TABLES, Settings, Var

ROOT = Path(__file__).resolve().parents[3]
#: Read by a command rather than by the server (``hub wallet verify --url``): in the table, not in the settings.
COMMAND_ONLY = {"HUB_ADMIN_TOKEN"}
PACKAGES = [name for name in TABLES if name]


def package_class(name: str) -> Any:
    return next(f for f in dataclasses.fields(Settings) if f.name == name).default_factory  # type: ignore[misc]


def default_of(cls: Any, name: str) -> Any:
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    assert f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING, (cls, name)
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def all_vars() -> list[tuple[str, Var]]:
    return [(package, var) for package, table in TABLES.items() for var in table]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_setting_is_a_frozen_field_with_its_default_in_the_package(package: str) -> None:
    cls = package_class(package)
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    assert cls.__module__ == f"{package}.settings"
    names = {f.name for f in dataclasses.fields(cls)}
    for var in TABLES[package]:
        assert var.field in names, f"{var.env} sets {package}.{var.field}, which {cls.__name__} does not have"
    for name in names:
        default_of(cls, name)  # asserts there is one


@pytest.mark.parametrize("package", PACKAGES)
def test_an_empty_environment_gives_each_package_exactly_its_own_defaults(package: str) -> None:
    composed = getattr(Settings.from_env({}), package)
    # dev mode generates missing secrets (and a package may share another's, e.g. the SFU's relay secret is the
    # cluster secret): everything else is the class's default, untouched by hub/settings.py
    generated = {var.field for var in TABLES[package] if var.env in GENERATED}
    shared = {name for (target, name) in SHARED if target == package}
    cls = type(composed)
    reset = {name: default_of(cls, name) for name in generated | shared}
    assert dataclasses.replace(composed, **reset) == package_class(package)()


def test_a_shared_setting_is_its_source_s_value() -> None:
    s = Settings.from_env({"HUB_CLUSTER_SECRET": "k" * 32})
    for (package, name), (source, source_name) in SHARED.items():
        assert getattr(getattr(s, package), name) == getattr(getattr(s, source), source_name)


def test_an_empty_environment_gives_the_hub_its_own_defaults() -> None:
    s = Settings.from_env({})
    for var in HUB_VARS:
        if var.env in GENERATED or var.field in ("node_id", "public_url"):
            continue
        assert getattr(s, var.field) == default_of(Settings, var.field), var.env
    assert s.public_url == f"http://{s.host}:{s.port}" and s.node_id.startswith("node-")


def test_each_variable_sets_one_field_and_each_field_has_one_variable() -> None:
    names = [var.env for _, var in all_vars()]
    fields = [(package, var.field) for package, var in all_vars()]
    assert len(names) == len(set(names))
    assert len(fields) == len(set(fields))
    assert all(name.startswith("HUB_") for name in names)


def readme_rows() -> list[tuple[list[str], str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`HUB_"):
            rows.append((re.findall(r"HUB_[A-Z0-9_]+", cells[0]), cells[1]))
    return rows


def test_the_readme_settings_table_names_exactly_the_variables_the_hub_reads() -> None:
    documented = {name for names, _ in readme_rows() for name in names}
    read = {var.env for _, var in all_vars()}
    assert sorted(documented - COMMAND_ONLY - read) == [], "in the README, read by nobody"
    assert sorted(read - documented) == [], "read by the hub, missing from the README"


def test_the_readme_states_the_defaults_the_settings_classes_have() -> None:
    """Where the README's default is a plain number (one per variable, in order), it is the field's default."""
    where = {var.env: (package, var.field) for package, var in all_vars()}
    checked = 0
    for names, cell in readme_rows():
        values = [v.strip().strip("`").split(" ")[0] for v in cell.split(",")]
        if len(values) != len(names):
            continue
        for name, value in zip(names, values, strict=True):
            if name not in where or not re.fullmatch(r"-?\d+(\.\d+)?", value):
                continue
            package, field = where[name]
            default = default_of(package_class(package) if package else Settings, field)
            if isinstance(default, bool) or not isinstance(default, int | float):
                continue  # "4 packs": a count, not the value
            assert float(value) == default, f"README says {name} defaults to {value}, the code says {default}"
            checked += 1
    assert checked >= 30
