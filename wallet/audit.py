"""The ledger check an operator asks for (``hub wallet verify``, ``POST /admin/wallet/verify``), on the ledger that
this process serves: first what its outbox relay was given is published (the check is of the ledger at rest), then,
if asked, the reconciler's pass, then ``verify_ledger``. Read-only unless ``reconcile``."""

from __future__ import annotations

from core.errors import UnavailableError
from wallet.outbox import OutboxRelay
from wallet.reconciler import Reconciler
from wallet.store import LedgerStore
from wallet.verify import VerifyReport, verify_ledger


class LedgerAudit:
    def __init__(
        self, store: LedgerStore, relay: OutboxRelay, reconciler: Reconciler, *, drain_timeout_s: float = 10.0
    ) -> None:
        self._store = store
        self._relay = relay
        self._reconciler = reconciler
        self._drain_timeout_s = drain_timeout_s

    async def verify(self, *, reconcile: bool = False) -> VerifyReport:
        try:
            await self._relay.drain(self._drain_timeout_s)
        except TimeoutError:
            raise UnavailableError(
                f"the outbox relay did not finish within {self._drain_timeout_s:g} s; nothing was checked, try again",
                retry_after_s=1,
            ) from None
        if reconcile:
            await self._reconciler.run_once()
        return await verify_ledger(self._store)
