"""The controller: membership, failure detection, health, node table, REST API.

It is off the data path: clients talk to nodes directly and only learn from the
controller who is alive, draining and how loaded (a pushed node table).
"""
