from dlmstw.server.listen import MeterEndpointParser

dlmstw_tcp = MeterEndpointParser()
