"""The objects a process builds as it starts, kept out of the garbage collector's way.

A web process holds some 240k objects once Django, the URLconf, the models, serializers and
compiled regular expressions are loaded; none of them will ever be garbage. Python's collector
still walks them all at each full collection — ~200 ms every few hundred API requests, paid by
whichever request triggers it (bench-inbox: 0.7–0.9 ms per request on average, and a 200 ms
stall at the tail). `gc.freeze()` moves them to a generation the collector never examines, as
large Python services do (and the `gc` documentation advises before forking workers).
"""

import gc


def startup_objects_frozen() -> None:
    """Load what the first request would (the URLconf, hence every view), drop the garbage of
    starting up, then freeze what is left. Call once, when the process is ready to serve — in a
    parent process before it forks its workers, so that they share those pages."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 — imports the URLconf's modules
    gc.collect()
    gc.freeze()
