"""Per-infrastructure and per-partition configuration, validated when loaded.

The loader lives in ``instances.registry``; the data lives in one folder per
infrastructure (``instances/<Infrastructure>/``): ``infrastructure.toml`` holds the
account facts and every other ``<partition>.toml`` beside it activates a partition.
"""
