"""What a job author writes against and what describes it: the ``Job`` base class,
variables, turning submitted data into ``run()``'s input, the form's JSON Schema,
discovery of job classes and their Job records.

May import ``core``, ``models`` and ``store``; never the bus, a run's pipeline or a worker.
"""
