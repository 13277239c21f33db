"""Local stand-ins for the outside world: Postmark over HTTP, and the `op` CLI."""
