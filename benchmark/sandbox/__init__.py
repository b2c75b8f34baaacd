"""Submitted plugins run out of process: wire format, child, the harness's end, the defense proxy."""
