"""association layer."""
