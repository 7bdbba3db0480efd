"""What a requester may see of the bookkeeping tables through job input.

ObjectVar and MultiObjectVar accept pks and lookup dicts from whoever sends a
run request. On inventory models that is the point; on the bookkeeping models
(jobs, results, log entries, users, tokens, permissions, the outbox) it would
let any requester test guesses about rows they may not see. This package
holds the rules; :mod:`jobruntime.authoring.object_inputs` applies them. It may import
the models and :mod:`jobruntime.run.auth`'s vocabulary, nothing above them.
"""

from jobruntime.visibility.rules import NotSelectable, refused_lookup, visible_objects

__all__ = ["NotSelectable", "refused_lookup", "visible_objects"]
