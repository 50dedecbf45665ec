"""The package version (a leaf module: the cache keys read it without importing the package)."""
__version__ = "0.1.0"
