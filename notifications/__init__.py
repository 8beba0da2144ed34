"""Notifications: go-live fan-out to followers (in-app over the socket, Web Push), the notification centre, mutes,
push subscriptions. Imports ``core`` and ``accounts`` (followers, nicknames) only."""
