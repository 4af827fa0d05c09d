"""Disconnect control, class_id 70, version 0 (Blue Book 4.5.8).

The control state is kept per meter (attribute 3 in the meter's values, so it
survives a restart with them); output_state is TRUE exactly when the state is
connected. remote_disconnect and remote_reconnect follow the transitions the
control mode allows (transitions b, c and a, d of the Blue Book's state
diagram); a manual or local transition never happens on a simulated meter.
In control mode 0 (no disconnection) both methods fail with temporary-failure.
Every change of state is recorded for the meter's event logs.

The simulated load obeys the output: while output_state is FALSE the meter
measures no energy and no current. The meter keeps the periods its output
was off (``DISCONNECTIONS`` in its persisted object state: [start, end]
pairs, end None while it lasts), which its simulation subtracts
(``simulator.meter.Snapshot``).
"""

from __future__ import annotations

from ...codec import axdr
from ...codec.axdr import Data
from ...enums import ActionResult, AttributeAccess, DataAccessResult, DataType
from ..base import AttributeSpec, Context, CosemObject, Encoded, MethodSpec
from .configured import ConfiguredClass

#: control_state (Blue Book 4.5.8, attribute 3).
DISCONNECTED = 0
CONNECTED = 1
READY_FOR_RECONNECTION = 2
#: control_mode values (0..6) whose remote_reconnect goes to ready_for_reconnection
#: (transition a) rather than straight to connected (transition d).
RECONNECT_VIA_READY = frozenset({2, 4})
CONTROL_MODES = range(7)
#: Where the meter keeps the periods its output was off.
DISCONNECTIONS = (b"", "disconnections")
#: Periods kept (the oldest is forgotten: its energy then counts as measured).
MAX_DISCONNECTIONS = 256


class DisconnectControl(ConfiguredClass):
    """``params``: ``control_state`` and ``control_mode`` (enum Data) at start."""

    class_id = 70
    version = 0
    name = "Disconnect control"
    attributes = (
        AttributeSpec(1, "logical_name"),
        AttributeSpec(2, "output_state"),
        AttributeSpec(3, "control_state"),
        AttributeSpec(4, "control_mode", AttributeAccess.READ_AND_WRITE),
    )
    methods = (MethodSpec(1, "remote_disconnect"), MethodSpec(2, "remote_reconnect"))
    defaults = {
        "control_state": (DataType.ENUM, CONNECTED),
        "control_mode": (DataType.ENUM, 1),
    }

    def state(self, obj: CosemObject, ctx: Context) -> int:
        """The meter's control_state."""
        return int(self.current(obj, 3, ctx)[1])

    def _mode(self, obj: CosemObject, ctx: Context) -> int:
        return int(self.current(obj, 4, ctx)[1])

    def _change(self, obj: CosemObject, ctx: Context, state: int) -> None:
        before = self.state(obj, ctx)
        if state == before:
            return
        ctx.meter.values[(obj.logical_name, 3)] = (DataType.ENUM, state)
        if (before == CONNECTED) != (state == CONNECTED):
            self._output_changed(ctx, state == CONNECTED)
        if state == DISCONNECTED:
            ctx.meter.record("disconnect")
        elif state == CONNECTED:
            ctx.meter.record("reconnect")

    @staticmethod
    def _output_changed(ctx: Context, connected: bool) -> None:
        """The output went off (a new period) or on again (the period ends now)."""
        periods = [list(period) for period in ctx.meter.object_state.get(DISCONNECTIONS, ())]
        t = ctx.meter.now()
        if not connected:
            periods.append([t, None])
        elif periods and periods[-1][1] is None:
            periods[-1][1] = max(t, periods[-1][0])
        ctx.meter.object_state[DISCONNECTIONS] = periods[-MAX_DISCONNECTIONS:]

    def read_output_state(self, obj: CosemObject, ctx: Context) -> Encoded:
        return axdr.encode_boolean(self.state(obj, ctx) == CONNECTED)

    def write_control_mode(self, obj: CosemObject, value: Data, ctx: Context) -> DataAccessResult:
        """Modes 0..6; mode 0 means always connected."""
        if value[0] != DataType.ENUM:
            return DataAccessResult.TYPE_UNMATCHED
        if value[1] not in CONTROL_MODES:
            return DataAccessResult.OTHER_REASON
        ctx.meter.values[(obj.logical_name, 4)] = value
        if value[1] == 0:
            self._change(obj, ctx, CONNECTED)
        return DataAccessResult.SUCCESS

    def _remote(self, obj: CosemObject, parameters: Data | None, ctx: Context,
                reconnect: bool) -> tuple[ActionResult, bytes | None]:
        if parameters is not None and parameters[0] != DataType.INTEGER:
            return ActionResult.TYPE_UNMATCHED, None
        mode = self._mode(obj, ctx)
        if mode == 0:
            return ActionResult.TEMPORARY_FAILURE, None
        state = self.state(obj, ctx)
        if not reconnect:
            if state in (CONNECTED, READY_FOR_RECONNECTION):
                self._change(obj, ctx, DISCONNECTED)
        elif state == DISCONNECTED:
            self._change(obj, ctx, READY_FOR_RECONNECTION if mode in RECONNECT_VIA_READY else CONNECTED)
        return ActionResult.SUCCESS, None

    def do_remote_disconnect(self, obj: CosemObject, parameters: Data | None,
                             ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Method 1 (data ::= integer (0)): transitions b and c, in modes 1..6."""
        return self._remote(obj, parameters, ctx, reconnect=False)

    def do_remote_reconnect(self, obj: CosemObject, parameters: Data | None,
                            ctx: Context) -> tuple[ActionResult, bytes | None]:
        """Method 2 (data ::= integer (0)): transition d (to connected) in
        modes 1, 3, 5 and 6, transition a (to ready_for_reconnection) in 2 and 4."""
        return self._remote(obj, parameters, ctx, reconnect=True)
