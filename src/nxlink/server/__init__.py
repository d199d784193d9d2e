"""The HTTP server: settings, the ASGI app, authentication, the request log."""

from nxlink.server.app import create_app
from nxlink.server.settings import Settings

__all__ = ["Settings", "create_app"]
