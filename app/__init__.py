"""The application layer: one use case per action, shared by both edges.

Edges (``signaling``, ``mobile_api``) validate the wire format, resolve a :class:`app.principal.Principal`, call a
use case and map its typed result or ``HubError``. Use cases ask :mod:`app.policy` who may do what, then orchestrate
the domain packages and the SFU. Nothing here imports a store module, a database or Redis driver.
"""
