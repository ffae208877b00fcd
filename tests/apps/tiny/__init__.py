"""A throwaway application for the ``bench e2e`` harness's tests: one numpy task whose
work grows with a size argument, and a seeded workload of requests."""
