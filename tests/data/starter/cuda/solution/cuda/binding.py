"""Starter-kit packing fixture: the template's binding.py is packed as a
source (flashinfer-bench packs every .py) but not compiled."""
