"""The vocabulary every layer shares: run statuses, settings, text helpers, the
sanitizer and the ``JobRuntimeError`` family.

Imports nothing else from jobruntime; everything else may import it.
"""
