"""What a run request and a run may reveal on the bus and in the database, and how much of it.

``credentials`` takes the token and signature out of a request body before the body
is dead-lettered; ``limits`` bounds request bodies, log messages, event output and
reasons that quote user input. Both sit beside the transports (``bus``) and below
the handlers, and import nothing else of jobruntime.
"""
