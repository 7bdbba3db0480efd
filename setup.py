"""Packages: ``jobruntime`` and its subpackages, and the top-level ``handlers/`` folder
installed as ``jobruntime_handlers`` (never as a bare ``handlers``, which any other
project could also own). Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["jobruntime", "jobruntime.*"]), "jobruntime_handlers"],
    package_dir={"jobruntime_handlers": "handlers"},
)
