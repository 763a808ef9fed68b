"""The mu2keras version, read by setup.py and the package."""

__version__ = "0.1.0"
