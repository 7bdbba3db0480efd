"""Change logging and job hooks: what a committed change records, announces and starts.

- ``snapshot``: an object as the JSON its change keeps, and the difference of two snapshots.
- ``recorder``: watches a session and writes its changes and their ``object.change.*``
  events with the session's own transaction.
- ``hooks``: the rules a JobHook keeps and the runs a change starts (outbox rows).
- ``history``: reading the change log back (list, previous snapshot, prune).
- ``external``: object-change messages from other systems.
- ``inventory``: inventory exported to, and applied from, YAML/JSON documents.

Imports models, the outbox, the job API and the message schemas; never a handler or the CLI.
The run pipeline (``jobruntime.run.execution``) imports ``recorder`` and ``hooks``.
"""
