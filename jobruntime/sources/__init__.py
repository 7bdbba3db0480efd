"""Job sources beyond JOBS_ROOT: Git repositories (``git.<slug>/<module>/<Class>``).

A repository's ``jobs/`` folder is fetched with the ``git`` command line into a
per-commit cache under ``JOBRUNTIME_HOME`` on each worker, imported as a package of
its own per repository and commit, and every run is pinned to one commit.

Layer: above ``authoring`` (discovery, Job records) and below ``bus``; imports
``authoring``, ``store``, ``models`` and ``core`` only.
"""
