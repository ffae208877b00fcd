"""Benchmarks, each side by side with its peers in one run (``edgeoffload bench NAME``)."""
