from __future__ import annotations

import pytest

import edgeoffload
from edgeoffload import errors
from edgeoffload.protocol.codes import DESCRIPTIONS, ErrorCode


def test_every_code_has_a_description() -> None:
    assert set(DESCRIPTIONS) == set(ErrorCode)


@pytest.mark.parametrize("code", list(ErrorCode))
def test_task_error_maps_every_code_to_an_exception_with_that_code(code: ErrorCode) -> None:
    exc = errors.task_error(code, 7, "msg", exc_type="KeyError", retry_after_s=0.5)
    assert isinstance(exc, errors.TaskError) and exc.code is code and exc.task_id == 7
    assert str(exc).startswith(str(code))


def test_data_on_exceptions() -> None:
    failed = errors.task_error(ErrorCode.TASK_FAILED, 1, "boom", exc_type="ValueError")
    assert isinstance(failed, errors.TaskFailed) and failed.exc_type == "ValueError"
    over = errors.task_error(ErrorCode.OVERLOADED, 1, "full", retry_after_s=0.25)
    assert isinstance(over, errors.Overloaded) and over.retry_after_s == 0.25
    big = errors.FrameTooLarge(10, 5)
    assert (big.size, big.limit, big.code) == (10, 5, ErrorCode.TOO_LARGE)
    assert isinstance(errors.InvalidState("x"), AssertionError)
    assert isinstance(errors.ConfigError("x"), ValueError)


def test_public_exports_are_complete_and_importable() -> None:
    for name in edgeoffload.__all__:
        assert getattr(edgeoffload, name) is not None
    public_errors = {
        n
        for n in dir(errors)
        if isinstance(getattr(errors, n), type)
        and issubclass(getattr(errors, n), errors.EdgeOffloadError)
    }
    missing = (
        public_errors
        - set(edgeoffload.__all__)
        - {
            "ProtocolError",
            "LocalProtocolError",
            "RemoteProtocolError",
            "BadItem",
            "InvalidState",
            "NodeError",
        }
    )
    assert not missing, f"not exported: {missing}"
