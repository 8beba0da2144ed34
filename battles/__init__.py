"""PK battles: two live streamers side by side for a fixed time, the gifts of each audience decide.

``models`` (values), ``machine`` (the pure state machine), ``store`` (MongoDB), ``service`` (invariants, timers,
scores from the ledger). Who may act is decided in ``app/policy.py``; the use cases are ``app/battling.py``.
"""
