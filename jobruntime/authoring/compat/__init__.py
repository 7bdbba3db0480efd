"""Nautobot 1.x job files, run unchanged: the ``nautobot.*`` and ``django.*`` names they import.

``finder`` holds the import hook that answers those names while jobruntime imports
a job module (and only when no real Nautobot or Django is installed); most other
modules here are what one of those names provides (``jobs`` for
``nautobot.extras.jobs``, ``django_settings`` for ``django.conf``...). ``check``
tells a job author, without running the file, which names it uses that are not
provided; ``job_data`` keeps Nautobot's ``Job.validate_data`` / ``deserialize_data``
contracts.

It belongs with the job API (``authoring``): it imports the job API, variables,
inputs, models and settings, and only discovery (which turns the hook on), the
Runtime (which binds the settings), ``Job``'s Nautobot data methods (on first
call) and the CLI import it.
"""
