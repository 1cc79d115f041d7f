"""The HTTP service: ``create_app(settings)`` builds the FastAPI app over a saved index."""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
