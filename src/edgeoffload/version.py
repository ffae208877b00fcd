"""The package's version, in a module of its own so that a layer can name it without
importing the package root (whose lazy public API names the client)."""

from __future__ import annotations

__version__ = "0.1.0"
