"""cli.demo: the workload is the seed's (same seed, same items; the inspection line's
mix of frames, counting jobs, tiny calls and local work), the client token read or
made from the site secret, and the refusals that come before any node starts."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from edgeoffload.auth import Keys, Role, verify_token
from edgeoffload.cli import main
from edgeoffload.cli.demo import _token, _workload_items

SECRET = "d" * 40


def test_the_workload_is_the_seeds() -> None:
    a, b = _workload_items(200, 7), _workload_items(200, 7)
    assert [(t, w) for t, _, w in a] == [(t, w) for t, _, w in b]
    for (_, args_a, _), (_, args_b, _) in zip(a, b, strict=True):
        if isinstance(args_a[0], np.ndarray):
            assert np.array_equal(args_a[0], args_b[0])
        else:
            assert args_a == args_b
    assert [t for t, _, _ in _workload_items(200, 8)] != [t for t, _, _ in a]


def test_the_mix_of_the_inspection_line() -> None:
    items = _workload_items(4000, 7)
    kinds = Counter((t, w) for t, _, w in items)
    assert set(kinds) == {
        ("inspect_frame", "auto"),
        ("count_primes", "auto"),
        ("add", "auto"),
        ("count_primes", "local"),
    }
    share = {k: v / len(items) for k, v in kinds.items()}
    assert share[("inspect_frame", "auto")] == pytest.approx(0.45, abs=0.03)
    assert share[("count_primes", "auto")] == pytest.approx(0.30, abs=0.03)
    assert share[("add", "auto")] == pytest.approx(0.15, abs=0.03)
    assert share[("count_primes", "local")] == pytest.approx(0.10, abs=0.03)
    for task, args, where in items:
        if task == "inspect_frame":
            assert args[0].shape == (240, 320) and args[0].dtype == np.uint8
        elif task == "count_primes" and where == "local":
            assert args == [2_000]  # kept small: it runs on the device
        elif task == "count_primes":
            assert 20_000 <= args[0] < 120_000
        else:
            assert args[1] == 0.5


def test_every_third_frame_has_the_defect_patch() -> None:
    frames = {id(a[0]): a[0] for t, a, _ in _workload_items(400, 7) if t == "inspect_frame"}
    patched = [f for f in frames.values() if (f[100:140, 150:200] == 255).all()]
    assert len(frames) == 8
    assert len(patched) == 3  # frames 0, 3 and 6


def ns(**kw: object) -> argparse.Namespace:
    return argparse.Namespace(**({"token_file": None, "auth_secret_file": None} | kw))


def test_token_from_a_file_or_the_secret_or_none(tmp_path: Path) -> None:
    assert _token(ns()) is None
    f = tmp_path / "t"
    f.write_text("abc.def\nignored\n")
    assert _token(ns(token_file=str(f))) == "abc.def"
    s = tmp_path / "s"
    s.write_text(SECRET + "\n")
    token = _token(ns(auth_secret_file=str(s)))
    claims = verify_token(Keys(SECRET), token, [Role.CLIENT])
    assert (claims.subject, claims.role) == ("demo", Role.CLIENT)


@pytest.mark.parametrize("argv", [["--tasks", "0"], ["--nodes", "0"]])
def test_counts_below_one_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", *argv]) == 2
    assert capsys.readouterr().err == "edgeoffload demo: error: --tasks and --nodes must be >= 1\n"


def test_an_unknown_policy_is_refused_before_any_node_starts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import edgeoffload.cli.demo as demo

    monkeypatch.setattr(demo, "_start_node", pytest.fail)
    assert main(["demo", "--policy", "nope"]) == 2
    assert "configuration error: unknown policy 'nope'" in capsys.readouterr().err


def test_a_missing_token_file_is_refused_before_any_node_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import edgeoffload.cli.demo as demo

    monkeypatch.setattr(demo, "_start_node", pytest.fail)
    assert main(["demo", "--token-file", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err == (
        f"edgeoffload demo: configuration error: cannot read --token-file {tmp_path / 'none'}: "
        "No such file or directory\n"
    )
