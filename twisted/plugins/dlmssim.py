from twisted.application.service import ServiceMaker

dlmssim = ServiceMaker(
    "dlmstw meter simulator",
    "dlmstw.tap",
    "Virtual DLMS/COSEM meters over TCP (IEC 62056-47 wrapper) with a packet console.",
    "dlmssim",
)
