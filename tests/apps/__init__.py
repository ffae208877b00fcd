"""Test fixture applications (packages shaped like ``examples/<name>``, see
/work/notes/EXAMPLES.md), small enough for a seconds-long ``bench e2e`` run in tests."""
