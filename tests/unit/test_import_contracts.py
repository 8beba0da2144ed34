"""The import contracts name what they forbid one module at a time; these tests keep the lists whole."""

from __future__ import annotations

import configparser
import dataclasses
import enum
from pathlib import Path

import app.vocabulary
from core.errors import HubError

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ("accounts", "rooms", "gifts", "wallet", "loyalty")


def _forbidden(contract: str) -> set[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    return set(config[f"importlinter:contract:{contract}"]["forbidden_modules"].split())


def test_every_store_module_of_a_domain_package_is_forbidden_to_the_application_layer_and_the_edges() -> None:
    stores = {f"{pkg}.{path.stem}" for pkg in DOMAIN for path in (ROOT / pkg).glob("store*.py")}
    assert "wallet.store_payments" in stores  # the glob finds them
    for contract in ("app", "edges-no-stores"):
        assert stores <= _forbidden(contract), (contract, sorted(stores - _forbidden(contract)))
        assert {"pymongo", "redis", "mongomock"} <= _forbidden(contract), contract


def test_both_edges_are_forbidden_every_domain_package() -> None:
    assert set(DOMAIN) | {"sfu"} <= _forbidden("signaling-adapter")
    assert set(DOMAIN) | {"sfu", "cluster"} <= _forbidden("mobile_api-adapter")


def test_of_the_cluster_the_application_layer_names_only_its_errors() -> None:
    modules = {f"cluster.{path.stem}" for path in (ROOT / "cluster").glob("*.py")} - {"cluster.__init__"}
    assert "cluster.media" in modules  # the glob finds them
    assert modules - {"cluster.errors"} <= _forbidden("app-cluster"), sorted(modules - _forbidden("app-cluster"))


def test_what_the_edges_take_from_the_domain_through_app_is_values_only() -> None:
    """``app.vocabulary`` re-exports enums, frozen dataclasses and errors: never a service an edge could call."""
    for name in app.vocabulary.__all__:
        value = getattr(app.vocabulary, name)
        is_value = isinstance(value, type) and (
            issubclass(value, enum.Enum | HubError)
            or (dataclasses.is_dataclass(value) and value.__dataclass_params__.frozen)  # type: ignore[attr-defined]
        )
        assert is_value, name
