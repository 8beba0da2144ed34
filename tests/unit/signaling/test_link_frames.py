"""The framing the Redis links put around each message between nodes: a repeated publish is passed on once."""

from __future__ import annotations

import msgpack

from signaling.store_redis import FRAME_MARK, _Framer, _Marks

CHANNEL = "sio:r:s:{room}"


def _marks() -> _Marks:
    marks = _Marks()
    marks.watch(CHANNEL)
    return marks


def test_a_message_published_twice_is_passed_on_once_and_the_next_one_still_is() -> None:
    framer, marks = _Framer(), _marks()
    first, second = framer.frame(b"one"), framer.frame(b"two")
    assert marks.fresh(CHANNEL.encode(), first) == b"one"
    assert marks.fresh(CHANNEL.encode(), first) is None
    assert marks.fresh(CHANNEL.encode(), second) == b"two"
    assert marks.fresh(CHANNEL.encode(), first) is None  # a late repeat of an older one too


def test_each_publisher_and_each_channel_count_apart() -> None:
    a, b, marks = _Framer(), _Framer(), _marks()
    marks.watch("sio:r:s:{other}")
    for _ in range(5):
        a.frame(b"x")  # a is further on than b
    assert marks.fresh(CHANNEL.encode(), a.frame(b"a6")) == b"a6"
    assert marks.fresh(CHANNEL.encode(), b.frame(b"b1")) == b"b1"  # not below a's mark: b has its own
    assert marks.fresh(b"sio:r:s:{other}", a.frame(b"a7")) == b"a7"


def test_a_restarted_node_is_a_new_publisher_whose_count_starts_again() -> None:
    marks = _marks()
    before = _Framer()
    for n in range(10):
        assert marks.fresh(CHANNEL.encode(), before.frame(b"%d" % n)) is not None
    after = _Framer()  # the same node id, a new process: a new publisher id
    assert marks.fresh(CHANNEL.encode(), after.frame(b"again")) == b"again"


def test_a_bare_payload_from_a_node_without_framing_is_passed_on_as_it_is() -> None:
    bare = msgpack.packb(["node-old", "/live", "s:room", "chat:message", {"text": "hi"}], use_bin_type=True)
    assert bare[:1] != FRAME_MARK  # msgpack never starts a document with the mark
    marks = _marks()
    assert marks.fresh(CHANNEL.encode(), bare) == bare
    assert marks.fresh(CHANNEL.encode(), bare) == bare  # nothing to compare it by


def test_a_forgotten_channel_keeps_no_marks() -> None:
    framer, marks = _Framer(), _marks()
    message = framer.frame(b"one")
    assert marks.fresh(CHANNEL.encode(), message) == b"one"
    marks.forget(CHANNEL)
    assert marks.fresh(CHANNEL.encode(), framer.frame(b"late")) == b"late"  # in flight after the unsubscribe
    assert marks._last == {}
