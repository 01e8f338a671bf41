"""``watchdeck demo``: an embedded PostgreSQL, Redis and HTTP service with a live workload.

Standard library only at import time: the guardian process imports this package too.
"""
