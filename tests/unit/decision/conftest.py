"""Fixtures of the decision tests."""

from __future__ import annotations

import pytest

from edgeoffload.decision.features import Context

from .synthetic import random_context


@pytest.fixture
def ctx() -> Context:
    return random_context(200, 3)
