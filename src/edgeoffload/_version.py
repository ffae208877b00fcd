"""The package's version, in a module of its own: the package's ``__init__`` names the
whole public API (for type checkers), so a module low in the house that imported the
version from there would import, on paper, everything above it."""

__version__ = "0.1.0"
