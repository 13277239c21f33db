"""The rehearsal world: local stand-ins for AWS, Postmark, DNS and 1Password (never imported by the product)."""
