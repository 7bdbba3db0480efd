"""Transport: the wire contract (messages, topology), publishing and consuming on
RabbitMQ or the in-process ``memory://`` broker, and the transactional outbox.

May import ``core``, ``models``, ``store`` and ``authoring`` (a request names a job);
never a run's pipeline, a worker or a face.
"""
