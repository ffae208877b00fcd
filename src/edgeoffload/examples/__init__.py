"""Example tasks served by default (``edgeoffload node`` with no ``--tasks``)."""
