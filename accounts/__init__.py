"""Identity: users, credentials, access and refresh tokens, follows."""
