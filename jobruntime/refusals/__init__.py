"""Who may end a run that has not started, and who hears about a request that may not touch it.

Anyone who can publish to the broker can send a request naming any run's
``job_result_id``. A worker's refusal and the supervisors' dead-letter sweep
therefore change an existing run only for a request that proved it comes from that
run's user; every other refusal is answered on the bus (dead letter and
``job.error``) and leaves the database as it was.

It sits above ``auth``, ``admission``, ``leases`` and ``messages``, and below the
worker and the handlers.
"""
