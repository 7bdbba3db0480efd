"""The ``jobruntime worker`` process: admission of a request, claiming a run and
its lease, the reaper, handler context and middleware, time limits, and the
supervisor over worker processes.

May import every layer below; never a face (``cli``) or a handler, which it
finds through the ``jobruntime.handlers`` entry points.
"""
