"""The DROO benchmark (edgeoffload.decision.droo)."""
