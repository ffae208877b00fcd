"""The edge node: a WebSocket server that runs registered tasks (see :mod:`.server`)."""
