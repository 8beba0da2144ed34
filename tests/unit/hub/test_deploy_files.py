"""The image and the manifests carry what the hub needs: every package, and the cluster's per-node settings."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _packages() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}


def test_the_image_copies_every_package_the_hub_is_built_from() -> None:
    copied = set(re.findall(r"^COPY (\w+) \1$", (ROOT / "docker" / "Dockerfile").read_text(), re.M))
    assert _packages() <= copied, f"docker/Dockerfile does not COPY {sorted(_packages() - copied)}"


def test_compose_nodes_share_a_cluster_secret_and_announce_their_media_addresses() -> None:
    compose = (ROOT / "docker" / "compose.yaml").read_text()
    assert "HUB_CLUSTER_SECRET: ${HUB_CLUSTER_SECRET:?" in compose
    relay_ranges = re.findall(r"HUB_SFU_RELAY_PORTS: (\d+)-(\d+)", compose)
    assert len(relay_ranges) == 2
    (a_low, a_high), (b_low, b_high) = ((int(x), int(y)) for x, y in relay_ranges)
    assert a_high < b_low or b_high < a_low, "two nodes on one host need distinct relay port ranges"
    assert "HUB_SFU_ANNOUNCED_IPS" in compose and "network_mode: host" in compose


def test_kubernetes_pods_configure_only_their_own_address() -> None:
    manifest = (ROOT / "deploy" / "k8s" / "hub.yaml").read_text()
    for name in ("HUB_PUBLIC_URL", "HUB_SFU_ANNOUNCED_IPS", "HUB_SFU_RELAY_ADDRESS"):
        assert re.search(rf"name: {name}\n\s+value: .*\$\(NODE_IP\)", manifest), name
    assert "hostNetwork: true" in manifest and "fieldPath: status.hostIP" in manifest
