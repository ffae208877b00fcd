"""Student architecture specs for ``edgeoffload distill --student-arch SPEC`` (pure).

Grammar::

    mlp:H1,H2,...       flatten, dense layers of H1, H2... units (ReLU), output layer
    mlp:                no hidden layer (a linear model on the flattened input)
    cnn:C1,C2,.../D1,.. 3x3 convolutions of C1, C2... channels (padding 1, ReLU), one
                        2x2 max-pool after the last, flatten, dense D1... (ReLU), output
                        layer; needs inputs of shape (channels, height, width)

Examples: ``mlp:256,128``, ``cnn:8,16/32``. The output layer's width and the input
shape come from the teacher, so a spec says only what is in between. Parsing is
separate from building (torch) so that a bad spec is refused before torch is imported.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True, slots=True)
class StudentArch:
    """A parsed spec: ``kind`` is ``mlp`` or ``cnn``; channel and unit counts per layer."""

    kind: str
    conv: tuple[int, ...] = ()
    dense: tuple[int, ...] = ()

    def __str__(self) -> str:
        dense = ",".join(map(str, self.dense))
        if self.kind == "mlp":
            return f"mlp:{dense}"
        conv = ",".join(map(str, self.conv))
        return f"cnn:{conv}/{dense}" if dense else f"cnn:{conv}"


def parse_arch(spec: str) -> StudentArch:
    """Parse a spec (see the module docstring).

    Raises:
        ConfigError: an unknown kind, a count that is not a positive integer, or a CNN
            without convolutions.
    """
    kind, sep, body = spec.strip().partition(":")
    if not sep or kind not in ("mlp", "cnn"):
        raise ConfigError(
            f"--student-arch: {spec!r} must start with 'mlp:' or 'cnn:' (e.g. mlp:256,128)"
        )
    if kind == "mlp":
        if "/" in body:
            raise ConfigError(f"--student-arch: {spec!r}: '/' is for cnn specs only")
        return StudentArch("mlp", dense=_counts(body, spec))
    conv_part, _, dense_part = body.partition("/")
    conv = _counts(conv_part, spec)
    if not conv:
        raise ConfigError(f"--student-arch: {spec!r}: a cnn needs at least one convolution")
    return StudentArch("cnn", conv=conv, dense=_counts(dense_part, spec))


def _counts(text: str, spec: str) -> tuple[int, ...]:
    if not text.strip():
        return ()
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(
            f"--student-arch: {spec!r}: layer sizes must be integers separated by commas"
        ) from None
    if any(c <= 0 for c in counts):
        raise ConfigError(f"--student-arch: {spec!r}: layer sizes must be positive")
    return counts
