"""Sans-I/O codecs: pure functions and small classes from bytes to values and back."""
