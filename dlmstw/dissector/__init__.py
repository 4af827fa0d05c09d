"""The packet dissector: frames and APDUs to trees of named fields, each with its
byte offset, length, hex and meaning (issue 5). The fields are what the codecs'
own decoders read, heard through a tracer (issue 9); the dissector adds the
words. Sans-I/O."""

from dlmstw.dissector.ciphered import Keys
from dlmstw.dissector.dissect import dissect_apdu, dissect_frame
from dlmstw.dissector.fields import Field

__all__ = ["Field", "Keys", "dissect_apdu", "dissect_frame"]
