"""Stand-ins only the tests use: ``dns.ZoneStandIn``, a DNS server on 127.0.0.1 the tests fill by hand.

The rest of the world (the moto patches, Postmark, the DNS server that answers from
moto's zones, ``op``) lives in ``tools/rehearsal/``, shared with ``tools/rehearse.py``
and the benchmarks.
"""
