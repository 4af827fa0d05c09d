"""The packet dissector: frames and APDUs to trees of named fields, each with its
byte offset, length, hex and meaning (issue 5). Sans-I/O."""

from dlmstw.dissector.ciphered import Keys
from dlmstw.dissector.dissect import dissect_apdu, dissect_frame
from dlmstw.dissector.fields import Field

__all__ = ["Field", "Keys", "dissect_apdu", "dissect_frame"]
