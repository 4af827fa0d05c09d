"""The built-in plugins: interface classes, authentication mechanisms and
object sets, registered exactly as a third party's would be."""

from dlmstw.cosem.classes.association_ln import AssociationLN
from dlmstw.cosem.classes.clock import Clock
from dlmstw.cosem.classes.data import DataClass
from dlmstw.cosem.classes.profile_generic import ProfileGeneric
from dlmstw.cosem.classes.register import DemandRegister, ExtendedRegister, Register
from dlmstw.cosem.classes.sap_assignment import SapAssignment
from dlmstw.models.is15959 import IS15959ABT
from dlmstw.security.mechanisms import LowestLevelSecurity, LowLevelSecurity

data = DataClass()
register = Register()
extended_register = ExtendedRegister()
demand_register = DemandRegister()
profile_generic = ProfileGeneric()
clock = Clock()
association_ln = AssociationLN()
sap_assignment = SapAssignment()

lowest_level_security = LowestLevelSecurity()
low_level_security = LowLevelSecurity()

is15959_abt = IS15959ABT()
