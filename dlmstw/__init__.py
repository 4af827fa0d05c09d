"""dlmstw: a virtual DLMS/COSEM meter simulator built on Twisted."""

__version__ = "0.1.0"
