"""Nautobot 1.x job files, run unchanged: the ``nautobot.*`` and ``django.*`` names they import.

``finder`` holds the import hook that answers those names while jobruntime imports
a job module (and only when no real Nautobot or Django is installed); the other
modules here are what each of those names provides. ``check`` tells a job author,
before running anything, which names a file uses that are not provided.

This package sits beside ``jobruntime.job`` and ``jobruntime.models`` and imports
only them (and the settings); nothing below it imports it, except discovery,
which turns the hook on.
"""
