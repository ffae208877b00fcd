"""The client SDK: :class:`~.client.Client` places, sends and owns tasks."""
