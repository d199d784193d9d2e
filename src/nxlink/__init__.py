"""nxlink: an NXLink-compatible outbound AI-agent task service, its client and command line."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nxlink")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

__all__ = ["__version__"]
