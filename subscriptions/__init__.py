"""Channel subscriptions: tiers, Stripe Billing, the streamer's share through the ledger, gifted months paid in
coins, and the perks (badge with months, subscriber-only chat, the channel's emotes)."""
