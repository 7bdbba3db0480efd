"""Scheduled runs and their approvals: when a schedule is due, who may approve it, and firing it.

A schedule lives in the database, so every ``jobruntime worker`` supervisor can
fire it: claiming an occurrence, recording its run and queueing its request in
the outbox are one transaction. May import the models, the store helpers and
the outbox; never the CLI or a handler.
"""
