"""Fast tests: in this process, no server but what a test starts itself (an HTTP stand-in at most)."""
