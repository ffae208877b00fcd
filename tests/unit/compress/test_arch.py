"""Student architecture specs."""

from __future__ import annotations

import pytest

from edgeoffload.compress.arch import StudentArch, parse_arch
from edgeoffload.errors import ConfigError


@pytest.mark.parametrize(
    ("spec", "arch"),
    [
        ("mlp:256,128", StudentArch("mlp", dense=(256, 128))),
        ("mlp:", StudentArch("mlp")),
        ("cnn:8,16/32", StudentArch("cnn", conv=(8, 16), dense=(32,))),
        ("cnn:4", StudentArch("cnn", conv=(4,))),
    ],
)
def test_valid_specs_parse_and_print_back(spec: str, arch: StudentArch) -> None:
    assert parse_arch(spec) == arch
    assert str(arch) == spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("resnet:50", "must start with 'mlp:' or 'cnn:'"),
        ("mlp:64,x", "integers separated by commas"),
        ("mlp:64,0", "must be positive"),
        ("mlp:8/4", "for cnn specs only"),
        ("cnn:/32", "at least one convolution"),
    ],
)
def test_bad_specs_are_refused(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_arch(spec)
