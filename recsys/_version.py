"""The package version (the package and the service read it here; pyproject.toml repeats it)."""

__version__ = "0.1.0"
