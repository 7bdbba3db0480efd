"""One run's pipeline, wherever it runs: process resources, who may run what,
execution in one transaction, the run's log, its JobResult and its events.

May import every layer below it (``core`` to ``bus``); never ``worker`` or a face.
"""
