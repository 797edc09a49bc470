"""Starter-kit packing fixture: a helper module packed beside kernel.py."""
BLOCK = 1024
