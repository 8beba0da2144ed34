"""Is a configured secret strong enough, and of the right kind for the mode? (used by ``hub.settings``)

Production refuses what fails here; dev mode only warns. Each finding names the setting and says why, never the value.

- ``HUB_JWT_SECRET`` signs access tokens with HS256. RFC 7518 §3.2 asks for a key at least as long as the hash output
  (256 bits); a text secret is judged by an estimate of its randomness: Shannon entropy of its characters times its
  length, and how often it repeats itself. ``openssl rand -base64 48`` passes by a wide margin; ``aaaa…`` or
  ``changeme-changeme-…`` do not.
- ``HUB_STRIPE_WEBHOOK_SECRET`` is the endpoint's signing secret from Stripe's dashboard: ``whsec_`` and about 32
  base64 characters.
- ``HUB_STRIPE_SECRET_KEY``: ``sk_live_``/``rk_live_`` in production (a test key charges nothing; every top-up would
  be a free gift of coins as soon as anyone sends a test card); a live key in dev charges real cards (a warning).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

JWT_MIN_BYTES = 32
JWT_MIN_BITS = 128.0
WEBHOOK_PREFIX = "whsec_"
WEBHOOK_MIN_CHARS = 24  # after the prefix; Stripe's are 32
WEBHOOK_MIN_BITS = 96.0
STRIPE_KEY_MIN_CHARS = 16  # after the prefix; Stripe's are 24 to 99
_WEBHOOK_BODY = re.compile(r"^[A-Za-z0-9+/=_-]+$")
_STRIPE_KEY = re.compile(r"^(sk|rk|pk)_(live|test)_([A-Za-z0-9_]+)$")


@dataclass(frozen=True, slots=True)
class Finding:
    setting: str
    problem: str

    def __str__(self) -> str:
        return f"{self.setting} {self.problem}"


def estimated_bits(secret: str) -> float:
    """A rough upper bound of the randomness in ``secret``: Shannon entropy per character times the length,
    scaled down by how repetitive it is (the share of distinct 3-character windows). 32 × ``a`` is 0 bits."""
    if not secret:
        return 0.0
    counts = Counter(secret)
    n = len(secret)
    per_char = -sum(c / n * math.log2(c / n) for c in counts.values())
    windows = [secret[i : i + 3] for i in range(n - 2)]
    variety = len(set(windows)) / len(windows) if windows else 1.0
    return per_char * n * variety


def check_jwt_secret(secret: str) -> list[Finding]:
    size = len(secret.encode())
    if size < JWT_MIN_BYTES:
        return [Finding("HUB_JWT_SECRET", f"is too short ({size} bytes; at least {JWT_MIN_BYTES} are needed)")]
    bits = estimated_bits(secret)
    if bits < JWT_MIN_BITS:
        return [
            Finding(
                "HUB_JWT_SECRET",
                f"is too predictable (about {bits:.0f} bits of randomness, {JWT_MIN_BITS:.0f} needed): "
                "anyone who guesses it can sign tokens as any user; use e.g. `openssl rand -base64 48`",
            )
        ]
    return []


def check_webhook_secret(secret: str) -> list[Finding]:
    if not secret.startswith(WEBHOOK_PREFIX):
        return [
            Finding(
                "HUB_STRIPE_WEBHOOK_SECRET",
                "is not a Stripe webhook signing secret (they start with whsec_; copy it from the endpoint's page "
                "in Stripe's dashboard)",
            )
        ]
    body = secret[len(WEBHOOK_PREFIX) :]
    if len(body) < WEBHOOK_MIN_CHARS or not _WEBHOOK_BODY.match(body):
        return [
            Finding(
                "HUB_STRIPE_WEBHOOK_SECRET",
                f"is not a plausible Stripe signing secret (whsec_ then at least {WEBHOOK_MIN_CHARS} base64 "
                f"characters; this one has {len(body)})",
            )
        ]
    bits = estimated_bits(body)
    if bits < WEBHOOK_MIN_BITS:
        return [
            Finding(
                "HUB_STRIPE_WEBHOOK_SECRET",
                f"is too predictable (about {bits:.0f} bits of randomness): forged webhooks could credit coins",
            )
        ]
    return []


def check_stripe_key(key: str, *, production: bool) -> list[Finding]:
    m = _STRIPE_KEY.match(key)
    if m is None or len(m.group(3)) < STRIPE_KEY_MIN_CHARS:
        return [
            Finding(
                "HUB_STRIPE_SECRET_KEY",
                "is not a Stripe secret key (sk_live_… or a restricted rk_live_… key from Stripe's dashboard)",
            )
        ]
    kind, live = m.group(1), m.group(2) == "live"
    if kind == "pk":
        return [
            Finding(
                "HUB_STRIPE_SECRET_KEY",
                "is a publishable key (pk_…): the server needs the secret key (sk_… or rk_…)",
            )
        ]
    if production and not live:
        return [
            Finding(
                "HUB_STRIPE_SECRET_KEY",
                f"is a test-mode key ({kind}_test_…) in production mode: no card would ever be charged while coins "
                f"are credited; use the live key ({kind}_live_…)",
            )
        ]
    if not production and live:
        return [
            Finding(
                "HUB_STRIPE_SECRET_KEY",
                f"is a live key ({kind}_live_…) in dev mode: top-ups charge real cards; use a test key in dev",
            )
        ]
    return []


def check_secrets(
    *, jwt_secret: str, stripe_secret_key: str, stripe_webhook_secret: str, production: bool
) -> list[Finding]:
    """Every finding for the configured secrets (in production each one refuses the start; in dev they warn)."""
    findings = [
        *check_jwt_secret(jwt_secret),
        *check_webhook_secret(stripe_webhook_secret),
        *check_stripe_key(stripe_secret_key, production=production),
    ]
    named = {
        "HUB_JWT_SECRET": jwt_secret,
        "HUB_STRIPE_SECRET_KEY": stripe_secret_key,
        "HUB_STRIPE_WEBHOOK_SECRET": stripe_webhook_secret,
    }
    seen: dict[str, str] = {}
    for name, value in named.items():
        if value and value in seen:
            findings.append(Finding(name, f"is the same value as {seen[value]}: each secret must be its own"))
        seen.setdefault(value, name)
    return findings
