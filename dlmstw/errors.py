"""Exceptions shared by the layers. A leaf module: every layer may import it."""


class DecodeError(ValueError):
    """Bytes that do not parse as the structure expected.

    ``offset`` is where parsing stopped, relative to the start of the buffer
    handed to the decoder, so a dissector can mark the spot.
    """

    def __init__(self, reason: str, offset: int = 0) -> None:
        super().__init__(f"{reason} (at byte {offset})")
        self.reason = reason
        self.offset = offset


class ConfigError(ValueError):
    """A lab configuration that cannot be served: names file, section and key."""

    def __init__(self, path: str, section: str | None, key: str | None, problem: str) -> None:
        where = path
        if section is not None:
            where += f" [{section}]"
        if key is not None:
            where += f" {key}"
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.section = section
        self.key = key
        self.problem = problem
