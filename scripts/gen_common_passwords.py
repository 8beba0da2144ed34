"""Builds ``accounts/data/common_passwords.txt``: passwords people pick first, made from well-known patterns.

Run ``python scripts/gen_common_passwords.py`` after changing the patterns; the output is deterministic (sorted,
lower-case, one a line, only those of at least 8 characters, since shorter ones are refused anyway). NIST SP 800-63B
asks verifiers to refuse passwords found in such lists; nothing is downloaded, at build time or at run time.
"""

from __future__ import annotations

import itertools
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "accounts" / "data" / "common_passwords.txt"
MIN_CHARS = 8

WORDS = """
password passw0rd p@ssword p@ssw0rd pass pa55word passwort motdepasse contraseña senha parola wachtwoord
qwerty qwertz azerty qwertyui qwertyuiop asdfgh asdfghjk asdfghjkl zxcvbn zxcvbnm qazwsx qazwsxedc 1qaz2wsx
1qaz2wsx3edc zaq12wsx zaq1xsw2 1q2w3e4r 1q2w3e4r5t q1w2e3r4 q1w2e3r4t5 qweasd qweasdzxc asdzxc poiuytrewq
letmein welcome welcome1 admin administrator root toor changeme default secret login master test tester testing
guest user access private hello hello123 iloveyou iloveu loveyou lovely love trustno1 whatever nothing freedom
monkey dragon football baseball soccer hockey basketball golfer tennis chelsea arsenal liverpool barcelona
realmadrid juventus yankees cowboys steelers lakers eagles tigers dolphins panthers rangers warriors
sunshine shadow princess superman batman spiderman ironman starwars pokemon naruto minecraft fortnite
michael jennifer jordan charlie thomas robert daniel jessica ashley amanda andrew joshua matthew anthony
william nicole hannah samantha michelle jasmine benjamin christopher elizabeth alexander victoria natalie
maria anna sophie olivia emma lucas liam noah mohammed ahmed ali david john james peter george
killer hunter ranger buster tigger ginger pepper maggie bailey cookie cheese banana orange apple chocolate
flower summer winter autumn spring computer internet google facebook instagram twitter youtube tiktok
samsung iphone android microsoft windows linux apple123 mustang corvette ferrari porsche harley
angel angels blessed jesus christ heaven faith hope lucky lucky7 money dollar cash rich diamond silver golden
purple yellow blue green red black white pink
hottie sexy babygirl babyboy baby sweetie honey darling friend friends family mother father
secure security letmein1 ncc1701 matrix hacker gamer player killer1 soccer1 qwerty1 abc123 abcd1234
abcdef abcdefg abcdefgh abc12345 aa123456 a1b2c3d4 a123456 123abc 123qwe qwe123 1qazxsw2 zxcvbnm1
livestream streamer stream streaming live gift coins
""".split()  # noqa: SIM905 (a word list reads better as text)

SUFFIXES = [
    "",
    "1",
    "12",
    "123",
    "1234",
    "12345",
    "123456",
    "!",
    "1!",
    "123!",
    "01",
    "007",
    "69",
    "99",
    "00",
    "11",
    "22",
    "77",
    "88",
    "@123",
    "#1",
    "2000",
    "1990",
    "1995",
    "1999",
] + [str(y) for y in range(2010, 2028)]

LEET = str.maketrans({"a": "@", "o": "0", "e": "3", "i": "1", "s": "$"})


def digit_patterns() -> set[str]:
    out: set[str] = set()
    for n in range(MIN_CHARS, 13):
        out.add("".join(str((i + 1) % 10) for i in range(n)))  # 12345678..., 1234567890, 123456789012
        out.add("".join(str((9 - i) % 10) for i in range(n)))  # 98765432...
        out.add("".join(str((8 - i) % 10 + 1) for i in range(n)))  # 87654321...
        for d in "0123456789":
            out.add(d * n)
    for a, b in itertools.product("0123456789", repeat=2):
        out.add((a + b) * 4)  # 12121212, 69696969
    for year in range(1940, 2028):  # birthdays: ddmmyyyy and yyyymmdd with round days
        for mm in ("01", "06", "12"):
            out.add(f"01{mm}{year}")
            out.add(f"{year}{mm}01")
    out.update(
        {
            "11223344",
            "112233445566",
            "123123123",
            "123321123",
            "147258369",
            "159753456",
            "741852963",
            "963852741",
            "789456123",
            "123654789",
            "1234qwer",
            "12345qwert",
            "1234abcd",
            "55555555",
        }
    )
    return out


def keyboard_walks() -> set[str]:
    rows = ["1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm"]
    out: set[str] = set()
    for row in rows:
        for n in range(MIN_CHARS, len(row) + 1):
            out.add(row[:n])
            out.add(row[:n][::-1])
    return out


def build() -> list[str]:
    found = digit_patterns() | keyboard_walks()
    for word in WORDS:
        for base in {word, word.translate(LEET)}:
            for suffix in SUFFIXES:
                found.add(base + suffix)
            found.add(base + base)
    return sorted(p for p in {p.lower() for p in found} if len(p) >= MIN_CHARS)


def main() -> None:
    passwords = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(passwords) + "\n", encoding="utf-8")
    print(f"{len(passwords)} passwords written to {OUT}")


if __name__ == "__main__":
    main()
