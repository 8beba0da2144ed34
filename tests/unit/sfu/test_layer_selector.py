"""The layer a viewer gets: a pure function of preference, screen, estimate and the layers on offer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sfu.selector import AUTO, HIGH, LOW, MEDIUM, PREFERENCES, LayerInfo, Screen, order_layers, select_layer

L = LayerInfo("l", 320, 180, 150_000, True)
M = LayerInfo("m", 640, 360, 500_000, True)
H = LayerInfo("h", 1280, 720, 1_500_000, True)
THREE = (L, M, H)


def off(layer: LayerInfo) -> LayerInfo:
    return LayerInfo(layer.rid, layer.width, layer.height, layer.bitrate_bps, False)


@pytest.mark.parametrize(("preference", "rid"), [(AUTO, "h"), (HIGH, "h"), (MEDIUM, "m"), (LOW, "l")])
def test_each_preference_names_its_layer_of_the_ladder(preference: str, rid: str) -> None:
    assert select_layer(preference, None, None, THREE) == rid


def test_a_missing_layer_falls_back_below_first_then_above() -> None:
    assert select_layer(HIGH, None, None, (L, M, off(H))) == "m"
    assert select_layer(MEDIUM, None, None, (L, off(M), H)) == "l"
    assert select_layer(LOW, None, None, (off(L), M, H)) == "m"
    assert select_layer(AUTO, None, None, (off(L), off(M), off(H))) is None


def test_auto_takes_the_smallest_layer_that_covers_the_screen() -> None:
    assert select_layer(AUTO, Screen(360, 200), None, THREE) == "m"
    assert select_layer(AUTO, Screen(300, 150), None, THREE) == "l"
    assert select_layer(AUTO, Screen(1920, 1080), None, THREE) == "h"
    assert select_layer(HIGH, Screen(300, 150), None, THREE) == "h"  # an explicit choice is not second-guessed


def test_an_estimate_caps_every_preference_and_below_the_lowest_layer_video_pauses() -> None:
    assert select_layer(HIGH, None, 600_000, THREE) == "m"
    assert select_layer(AUTO, None, 10_000_000, THREE) == "h"
    assert select_layer(LOW, None, 600_000, THREE) == "l"
    assert select_layer(AUTO, None, 100_000, THREE) is None  # audio only


def test_layers_are_ordered_by_size_when_known_else_by_bitrate() -> None:
    assert [x.rid for x in order_layers([H, L, M])] == ["l", "m", "h"]
    unknown = [LayerInfo("a", 0, 0, 900, True), LayerInfo("b", 0, 0, 100, True), LayerInfo("c", 640, 360, 500, True)]
    assert [x.rid for x in order_layers(unknown)] == ["b", "c", "a"]


def test_bad_preferences_and_screens_are_refused() -> None:
    with pytest.raises(ValueError):
        select_layer("best", None, None, THREE)
    for size in ((0, 10), (10, 0), (20000, 10)):
        with pytest.raises(ValueError):
            Screen(*size)


layers = st.lists(
    st.builds(
        LayerInfo,
        rid=st.text("abc", min_size=1, max_size=3),
        width=st.integers(0, 4000),
        height=st.integers(0, 4000),
        bitrate_bps=st.integers(0, 5_000_000),
        available=st.booleans(),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda layer: layer.rid,
)


@given(layers, st.sampled_from(PREFERENCES), st.none() | st.integers(0, 6_000_000))
def test_the_choice_is_always_an_available_layer_or_none(
    given_layers: list[LayerInfo], preference: str, estimate: int | None
) -> None:
    ordered = tuple(order_layers(given_layers))
    rid = select_layer(preference, None, estimate, ordered)
    if rid is None:
        assert estimate is not None or not any(x.available for x in ordered)
    else:
        chosen = next(x for x in ordered if x.rid == rid and x.available)
        assert estimate is None or chosen.bitrate_bps <= estimate


def test_moving_up_needs_room_for_a_layers_peak_and_staying_may_use_the_headroom() -> None:
    m = LayerInfo("m", 640, 360, 500_000, True, peak_bps=650_000)
    layers = (L, m, H)
    assert select_layer(AUTO, None, 600_000, layers, current="l") == "l"  # its 500k fit, its 650k peaks do not
    assert select_layer(AUTO, None, 660_000, layers, current="l") == "m"
    assert select_layer(AUTO, None, 450_000, layers, current="m") == "m"  # 500k under KEEP x 450k: stays
    assert select_layer(AUTO, None, 400_000, layers, current="m") == "l"
    assert select_layer(AUTO, None, 450_000, layers) == "l"  # a viewer on no layer yet gets no headroom
    # a viewer moving down (its link narrowed) goes to a layer that fits: the headroom is for staying only
    assert select_layer(AUTO, None, 450_000, (L, m, LayerInfo("h", 1280, 720, 1_500_000, True)), current="h") == "l"
