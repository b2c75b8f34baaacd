"""Broken on purpose: its folder has no README.md."""
