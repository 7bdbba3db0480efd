"""The database as a place: engines, migrations, seed and sample data, and the
statements every run makes, compiled once.

May import ``core`` and ``models``; knows no transport, job API or worker.
"""
