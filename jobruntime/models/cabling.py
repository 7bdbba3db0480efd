"""What can be cabled to what, and how a cabled component finds the far end.

Cables reference their ends generically (model label + id), so the set of
cable-able models and the compatibility rules live here, apart from the
concrete device components and the ``Cable`` model in ``dcim``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, relationship

from jobruntime.models.base import model_for_label
from jobruntime.models.errors import ValidationError

if TYPE_CHECKING:
    from jobruntime.models.dcim import Cable

COMPATIBLE_TERMINATIONS: dict[str, frozenset[str]] = {
    "dcim.interface": frozenset({"dcim.interface"}),
    "dcim.consoleport": frozenset({"dcim.consoleserverport"}),
    "dcim.consoleserverport": frozenset({"dcim.consoleport"}),
    "dcim.powerport": frozenset({"dcim.poweroutlet"}),
    "dcim.poweroutlet": frozenset({"dcim.powerport"}),
}
CONNECTED_STATUS_SLUG = "connected"


def termination_model(label: str) -> type[CableTermination]:
    """The cable-able model for a label such as ``"dcim.interface"``."""
    model = model_for_label(label) if label in COMPATIBLE_TERMINATIONS else None
    if model is None or not issubclass(model, CableTermination):
        raise ValidationError(
            f"Cable: {label!r} cannot be cabled; cable-able types are {', '.join(sorted(COMPATIBLE_TERMINATIONS))}"
        )
    return model


def describe_termination(end: CableTermination) -> str:
    """``"r1 eth0 (dcim.interface)"``: enough to find the port in a message."""
    device = getattr(end, "device", None)
    prefix = f"{device} " if device is not None else ""
    return f"{prefix}{end} ({end._meta_label})"


def check_compatible(a: CableTermination, b: CableTermination) -> None:
    """Reject pairs that cannot physically connect (e.g. an interface to a power outlet)."""
    if b._meta_label not in COMPATIBLE_TERMINATIONS.get(a._meta_label, frozenset()):
        raise ValidationError(
            f"Cable: cannot connect {describe_termination(a)} to {describe_termination(b)}; "
            "allowed pairs are interface-interface, console port-console server port and power port-power outlet"
        )


def terminations_with_cables(
    session: Session, *, device_id: uuid.UUID | None = None, cable_id: uuid.UUID | None = None
) -> list[CableTermination]:
    """Cabled components of one device, or the ends of one cable, across every cable-able model.

    Returned as a list so callers can modify (and autoflush) while walking it.
    """
    found: list[CableTermination] = []
    for label in COMPATIBLE_TERMINATIONS:
        model: Any = termination_model(label)
        stmt = sa.select(model).where(model.cable_id.is_not(None))
        if device_id is not None:
            stmt = stmt.where(model.device_id == device_id)
        if cable_id is not None:
            stmt = stmt.where(model.cable_id == cable_id)
        found.extend(session.scalars(stmt))
    return found


class CableTermination:
    """Mixin for components that a cable can attach to."""

    _meta_label: ClassVar[str]
    id: Mapped[uuid.UUID]

    @declared_attr
    def cable_id(cls) -> Mapped[uuid.UUID | None]:
        return mapped_column(sa.ForeignKey("cable.id", ondelete="SET NULL"), index=True)

    @declared_attr
    def cable(cls) -> Mapped[Cable | None]:
        return relationship("Cable")

    @property
    def _cable_peer(self) -> CableTermination | None:
        """The termination at the other end of this component's cable."""
        cable = self.cable
        if cable is None:
            return None
        if cable.termination_a_type == self._meta_label and cable.termination_a_id == self.id:
            return cable.termination_b
        return cable.termination_a

    @property
    def connected_endpoint(self) -> CableTermination | None:
        """The far end of the path; with direct cables only, the cable peer."""
        return self._cable_peer

    @property
    def connection_status(self) -> bool | None:
        """True when every cable on the path is connected, False if any is not, None if uncabled."""
        cable = self.cable
        if cable is None:
            return None
        return cable.status is not None and cable.status.slug == CONNECTED_STATUS_SLUG

    def _before_delete(self, session: Session) -> None:
        """A cable cannot outlive one of its ends, so it goes with the component."""
        cable = self.cable
        if cable is not None:
            cable.delete(flush=False)
