"""The package version, in a module of its own so that any layer can read it without importing the
package's public API (emodraw/__init__.py, whose lazy names reach every layer)."""

__version__ = "0.1.0"
