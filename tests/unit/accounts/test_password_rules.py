"""NIST SP 800-63B password rules (accounts/passwords.py) and the names logins are counted under."""

from __future__ import annotations

import pytest

from accounts.passwords import check_password, common_passwords
from accounts.service import login_key, normalize_phone
from core.errors import InvalidInputError


@pytest.mark.parametrize(
    ("password", "why"),
    [
        (" " * 8, "only spaces"),
        ("\u3000" * 8, "only spaces"),  # ideographic spaces
        ("\t \t \t \t ", "only spaces"),
        ("short", "at least 8"),
        ("ab\x00cdefgh", "control characters"),
        ("password", "too common"),
        ("Password1", "too common"),  # case does not make it rare
        ("12345678", "too common"),
        ("qwertyuiop", "too common"),
        ("iloveyou", "too common"),
        ("ｐａｓｓｗｏｒｄ１", "too common"),  # fullwidth spelling of a common one
        ("letmein123", "too common"),
        ("11111111", "too common"),
        ("é" * 80, "at most 72 bytes"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, why: str) -> None:
    with pytest.raises(InvalidInputError, match=why) as info:
        check_password(password)
    assert info.value.extra["field"] == "password"


@pytest.mark.parametrize(
    "password", ["correct horse", "Tr0ub4dor&3x", "ein schöner Satz", "пароль-длинный-2026", "🔑🔑 kitchen door"]
)
def test_passphrases_and_any_unicode_pass(password: str) -> None:
    check_password(password)


def test_a_password_that_is_the_accounts_own_email_or_nickname_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="email address or nickname"):
        check_password("Alice.Liddell", context=("alice.liddell@example.com", "alice.liddell", "Wonder"))
    with pytest.raises(InvalidInputError, match="email address or nickname"):
        check_password("wonder land", context=("x@example.com", "x", "WonderLand"))
    check_password("Alice in a long story", context=("alice@example.com", "alice", "Alice"))


def test_the_bundled_common_password_list_is_real() -> None:
    passwords = common_passwords()
    assert len(passwords) > 5000
    assert {"password", "12345678", "qwerty123", "iloveyou", "sunshine", "football1"} <= passwords
    assert all(len(p) >= 8 and p == p.lower() for p in passwords)


PHONE_SPELLINGS = [
    "+14155550100",
    "+1 415 555 0100",
    "+1 (415) 555-0100",
    "+1-415-555-0100",
    "+1.415.555.0100",
    "  +1 415 5550100  ",
    "001 415 555 0100",
    "0014155550100",
    "tel:+1-415-555-0100",
    "＋１ ４１５ ５５５ ０１００",  # fullwidth
    "+1\u00a0415\u00a0555\u00a00100",  # no-break spaces
    "+1\u2011415\u2013555\u20120100",  # Unicode hyphens and dashes
]


def test_twelve_spellings_of_one_phone_number_are_one_login_name() -> None:
    assert len(PHONE_SPELLINGS) == 12
    assert {login_key(s) for s in PHONE_SPELLINGS} == {"phone:14155550100"}
    assert {normalize_phone(s) for s in PHONE_SPELLINGS} == {"+14155550100"}


def test_email_spellings_are_one_login_name() -> None:
    spellings = ["Ann@Example.com", " ann@example.com ", "ANN@EXAMPLE.COM", "ａｎｎ＠ｅｘａｍｐｌｅ．ｃｏｍ"]
    assert {login_key(s) for s in spellings} == {"email:ann@example.com"}
