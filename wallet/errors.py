"""Wallet errors: stable codes the edges show to clients."""

from __future__ import annotations

from core.errors import ConflictError, ForbiddenError, HubError, InvalidInputError, NotFoundError, UnavailableError


class InsufficientFundsError(ConflictError):
    code = "insufficient_funds"


class AccountFrozenError(ForbiddenError):
    """A balance that could not cover a refund or chargeback: spending is blocked until support clears it."""

    code = "account_frozen"


class TransferInProgressError(ConflictError):
    """The same transfer id is being applied right now (a concurrent retry); try again in a moment."""

    code = "transfer_in_progress"


class UnknownCoinPackError(InvalidInputError):
    code = "unknown_coin_pack"


class TopUpNotFoundError(NotFoundError):
    code = "topup_not_found"


class CashoutNotFoundError(NotFoundError):
    code = "cashout_not_found"


class CashoutRefusedError(ForbiddenError):
    code = "cashout_refused"


class CashoutStateError(ConflictError):
    code = "cashout_state"


class BadSignatureError(HubError):
    """A webhook whose signature does not verify: answered 400, nothing changes."""

    code = "bad_signature"
    status = 400


class PaymentProviderUnavailableError(UnavailableError):
    code = "payment_provider_unavailable"


class MalformedEventError(HubError):
    """A correctly signed webhook whose content is not shaped like a Stripe event: refused, nothing changes."""

    code = "invalid_event"
    status = 400
