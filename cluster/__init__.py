"""The cluster plane: where each live stream's origin is, every node's load and address, and node-to-node trust.

Public API: the :class:`~cluster.placement.Placement` protocol (in-process :class:`~cluster.placement.LocalPlacement`
for one node; the Redis implementation, ``cluster.store_redis.RedisPlacement``, is chosen by ``hub`` wiring and
imported nowhere else), the values in ``cluster.models`` and the request signing in ``cluster.signing``.
Imports only ``core`` (and ``redis`` in its store module).
"""
