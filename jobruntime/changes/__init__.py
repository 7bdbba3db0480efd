"""Change logging and job hooks: what a committed change records, announces and starts.

``snapshot`` turns an object into the JSON its change keeps and compares two of
them; ``recorder`` watches a run's session and writes the changes, their events
and the hook runs they start with the run's own transaction; ``hooks`` holds the
rules of a JobHook and which hooks a change matches; ``receiver`` is the job base
class a hook runs. Imports models, the outbox and the message schemas; never a
handler or the CLI.
"""
