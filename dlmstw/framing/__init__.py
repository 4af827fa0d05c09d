"""framing layer."""
