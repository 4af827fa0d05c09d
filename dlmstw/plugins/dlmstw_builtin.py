"""The built-in plugins: interface classes, authentication mechanisms, security
suites and object sets, registered exactly as a third party's would be."""

from dlmstw.cosem.classes.activity_calendar import ActivityCalendar
from dlmstw.cosem.classes.association_ln import AssociationLN
from dlmstw.cosem.classes.clock import Clock
from dlmstw.cosem.classes.data import DataClass
from dlmstw.cosem.classes.disconnect_control import DisconnectControl
from dlmstw.cosem.classes.image_transfer import ImageTransfer
from dlmstw.cosem.classes.ipv4_setup import Ipv4Setup
from dlmstw.cosem.classes.limiter import Limiter
from dlmstw.cosem.classes.profile_generic import ProfileGeneric
from dlmstw.cosem.classes.push_setup import PushSetup
from dlmstw.cosem.classes.register import DemandRegister, ExtendedRegister, Register
from dlmstw.cosem.classes.register_monitor import RegisterMonitor
from dlmstw.cosem.classes.sap_assignment import SapAssignment
from dlmstw.cosem.classes.security_setup import SecuritySetup
from dlmstw.cosem.classes.script_table import ScriptTable
from dlmstw.cosem.classes.single_action_schedule import SingleActionSchedule
from dlmstw.cosem.classes.special_days_table import SpecialDaysTable
from dlmstw.cosem.classes.tcp_udp_setup import TcpUdpSetup
from dlmstw.models.dlms_generic import DlmsGeneric
from dlmstw.models.is15959 import IS15959ABT, IS15959Household
from dlmstw.security.hls import HlsEcdsa, HlsGmac, HlsMd5, HlsSha1, HlsSha256
from dlmstw.security.keys import SecuritySuite
from dlmstw.security.mechanisms import LowestLevelSecurity, LowLevelSecurity

data = DataClass()
register = Register()
extended_register = ExtendedRegister()
demand_register = DemandRegister()
profile_generic = ProfileGeneric()
clock = Clock()
association_ln = AssociationLN()
sap_assignment = SapAssignment()
image_transfer = ImageTransfer()
security_setup = SecuritySetup()
script_table = ScriptTable()
activity_calendar = ActivityCalendar()
special_days_table = SpecialDaysTable()
register_monitor = RegisterMonitor()
single_action_schedule = SingleActionSchedule()
push_setup = PushSetup()
tcp_udp_setup = TcpUdpSetup()
ipv4_setup = Ipv4Setup()
disconnect_control = DisconnectControl()
limiter = Limiter()

lowest_level_security = LowestLevelSecurity()
low_level_security = LowLevelSecurity()
hls_md5 = HlsMd5()
hls_sha1 = HlsSha1()
hls_gmac = HlsGmac()
hls_sha256 = HlsSha256()
hls_ecdsa = HlsEcdsa()

security_suite_0 = SecuritySuite(0)
security_suite_1 = SecuritySuite(1)
security_suite_2 = SecuritySuite(2)

is15959_abt = IS15959ABT()
is15959_household = IS15959Household()
dlms_generic = DlmsGeneric()
