"""The built-in interface classes, one module per class (Blue Book 4.3-4.5)."""
