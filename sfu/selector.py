"""Which simulcast layer a viewer gets: one pure function of what the viewer asked for, its screen, a bandwidth
estimate (none yet: a per-viewer estimator plugs in here later) and the layers the publisher is sending.

Rules, in order:
1. Only layers that are *available* (packets arrived lately and a keyframe was seen) can be chosen.
2. ``high`` / ``medium`` / ``low`` name a layer of the publisher's ladder (top, middle, bottom of all its layers,
   available or not); when that one is not available the nearest available one below it is taken, else the nearest
   above. ``auto`` starts from the top.
3. ``auto`` with a screen size: the smallest layer that still covers the screen (width and height), so a phone does
   not pull 720p into a 360-pixel-high view; layers of unknown size are not skipped.
4. An estimate (bits per second) caps every preference: the best layer at or below the chosen one whose bitrate
   fits the estimate. When not even the lowest layer fits, the answer is None: video pauses, audio goes on.
5. Hysteresis, given the layer the viewer is on (``current``): a layer *above* it fits only when its peak bitrate
   (the highest of its last few seconds: encoders vary with the picture) fits the estimate; the current layer fits
   while its bitrate is under ``KEEP`` times the estimate; a layer below it, when its bitrate fits (a move down for a
   link that narrowed goes to a layer that fits, or it moves down twice, each time waiting for a keyframe). The
   estimate a viewer gets is already a share of what its link carries (``sfu/downlink.py`` USABLE); moving up takes
   that headroom, staying may use it.
   Without this a viewer whose link sits near a layer's bitrate flips between two layers, and each flip waits for a
   keyframe on a congested link.
"""

from __future__ import annotations

from dataclasses import dataclass

AUTO = "auto"
HIGH = "high"
MEDIUM = "medium"
LOW = "low"
PREFERENCES = (AUTO, HIGH, MEDIUM, LOW)
#: The current layer stays while its bitrate is under this many times the estimate.
KEEP = 1.15


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """One layer as the selector sees it. ``width``/``height`` are 0 while unknown (no keyframe parsed yet, or a
    codec whose size the SFU does not read)."""

    rid: str
    width: int
    height: int
    bitrate_bps: int
    available: bool
    #: The highest recent bitrate (0: unknown, ``bitrate_bps`` is used).
    peak_bps: int = 0
    #: The lowest recent bitrate (0: unknown, ``bitrate_bps`` is used): a keyframe asked for a switch lifts the
    #: one-second bitrate for a moment.
    floor_bps: int = 0


@dataclass(frozen=True, slots=True)
class Screen:
    width: int
    height: int

    def __post_init__(self) -> None:
        if not (0 < self.width <= 16384 and 0 < self.height <= 16384):
            raise ValueError("a screen is 1 to 16384 pixels wide and high")


def select_layer(
    preference: str,
    screen: Screen | None,
    estimate_bps: int | None,
    layers: tuple[LayerInfo, ...],
    current: str | None = None,
) -> str | None:
    """The rid to send, or None (nothing fits the estimate, or nothing is available). ``layers`` runs from the
    lowest to the highest; ``current`` is the layer the viewer is on (None: none yet, or paused)."""
    if preference not in PREFERENCES:
        raise ValueError(f"unknown layer preference {preference!r}")
    if not any(layer.available for layer in layers):
        return None
    top = len(layers) - 1
    wanted = {HIGH: top, MEDIUM: len(layers) // 2, LOW: 0, AUTO: top}[preference]
    index = _nearest_available(layers, wanted)
    if preference == AUTO and screen is not None:
        for candidate in range(index + 1):
            layer = layers[candidate]
            if layer.available and layer.width and layer.width >= screen.width and layer.height >= screen.height:
                index = candidate
                break
    if estimate_bps is not None:
        on = next((i for i, layer in enumerate(layers) if layer.rid == current), -1) if current is not None else -1

        def fits(i: int) -> bool:
            layer = layers[i]
            if i == on:
                return layer.bitrate_bps <= estimate_bps * KEEP
            if i < on:
                return layer.bitrate_bps <= estimate_bps
            return max(layer.bitrate_bps, layer.peak_bps) <= estimate_bps

        fitting = [i for i in range(index + 1) if layers[i].available and fits(i)]
        if not fitting:
            return None
        index = fitting[-1]
    return layers[index].rid


def _nearest_available(layers: tuple[LayerInfo, ...], wanted: int) -> int:
    for index in range(wanted, -1, -1):
        if layers[index].available:
            return index
    for index in range(wanted + 1, len(layers)):
        if layers[index].available:
            return index
    raise AssertionError("unreachable: some layer is available")


def order_layers(layers: list[LayerInfo]) -> list[LayerInfo]:
    """Lowest first: by picture size when every layer's size is known, else by bitrate; ties keep the given order."""
    if layers and all(layer.width and layer.height for layer in layers):
        return sorted(layers, key=lambda layer: (layer.width * layer.height, layer.bitrate_bps))
    return sorted(layers, key=lambda layer: layer.bitrate_bps)
