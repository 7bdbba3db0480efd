"""Initial schema: inventory, job bookkeeping, and the default statuses.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Kept independent of the application models on purpose: a migration must keep
producing the same schema whatever the models later become. Custom column
types appear here as their storage types (IP fields as strings, UTC datetimes
as timestamptz / SQLite text).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
NOW = sa.text("CURRENT_TIMESTAMP")

DEFAULT_STATUSES = (
    ("active", "Active", "4caf50"),
    ("available", "Available", "4caf50"),
    ("connected", "Connected", "4caf50"),
    ("container", "Container", "9e9e9e"),
    ("decommissioned", "Decommissioned", "9e9e9e"),
    ("decommissioning", "Decommissioning", "ffc107"),
    ("deprecated", "Deprecated", "f44336"),
    ("dhcp", "DHCP", "4caf50"),
    ("failed", "Failed", "f44336"),
    ("inventory", "Inventory", "9e9e9e"),
    ("maintenance", "Maintenance", "9e9e9e"),
    ("offline", "Offline", "ffc107"),
    ("planned", "Planned", "00bcd4"),
    ("provisioning", "Provisioning", "2196f3"),
    ("reserved", "Reserved", "00bcd4"),
    ("retired", "Retired", "f44336"),
    ("slaac", "SLAAC", "4caf50"),
    ("staged", "Staged", "2196f3"),
)

JOB_FLAGS = (
    ("installed", True),
    ("enabled", False),
    ("is_job_hook_receiver", False),
    ("has_sensitive_variables", True),
    ("approval_required", False),
    ("commit_default", True),
    ("hidden", False),
    ("read_only", False),
)
JOB_OVERRIDABLE_FIELDS = (
    "grouping",
    "name",
    "description",
    "commit_default",
    "hidden",
    "read_only",
    "approval_required",
    "soft_time_limit",
    "time_limit",
    "has_sensitive_variables",
    "task_queues",
)


def _text(name: str, length: int | None = None, *, nullable: bool = False) -> sa.Column:
    kind = sa.String(length) if length else sa.Text()
    return sa.Column(name, kind, nullable=nullable)


def _flag(name: str, default: bool) -> sa.Column:
    return sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.true() if default else sa.false())


def _counter(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text("0"))


def _ref(table: str, column: str, target: str, ondelete: str, *, nullable: bool = True) -> list[sa.SchemaItem]:
    return [
        sa.Column(column, sa.Uuid(), nullable=nullable),
        sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete=ondelete),
    ]


def _create(
    name: str,
    *items: sa.SchemaItem | list[sa.SchemaItem],
    unique: tuple[tuple[str, ...], ...] = (),
    indexes: tuple[tuple[str, ...], ...] = (),
) -> None:
    flat: list[sa.SchemaItem] = []
    for item in items:
        flat.extend(item if isinstance(item, list) else [item])
    op.create_table(
        name,
        sa.Column("id", sa.Uuid(), nullable=False),
        *flat,
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
        *(sa.UniqueConstraint(*columns, name=f"uq_{name}_{'_'.join(columns)}") for columns in unique),
    )
    for columns in indexes:
        op.create_index(f"ix_{name}_{'_'.join(columns)}", name, list(columns))


def _named_slugged(
    name: str, *items: sa.SchemaItem | list[sa.SchemaItem], indexes: tuple[tuple[str, ...], ...] = ()
) -> None:
    _create(
        name,
        _text("name", 100),
        _text("slug", 100),
        *items,
        _text("description", 200),
        unique=(("name",), ("slug",)),
        indexes=indexes,
    )


def _device_component(name: str, *items: sa.SchemaItem) -> None:
    _create(
        name,
        _ref(name, "device_id", "device", "CASCADE", nullable=False),
        _text("name", 64),
        _text("description", 200),
        _text("type", 50),
        *items,
        _ref(name, "cable_id", "cable", "SET NULL"),
        unique=(("device_id", "name"),),
        indexes=(("cable_id",),),
    )


def _organization() -> None:
    _create(
        "status",
        _text("name", 50),
        _text("slug", 50),
        _text("color", 6),
        _text("description", 200),
        unique=(("name",), ("slug",)),
    )
    _named_slugged("region", _ref("region", "parent_id", "region", "CASCADE"), indexes=(("parent_id",),))
    _named_slugged(
        "tenant_group", _ref("tenant_group", "parent_id", "tenant_group", "CASCADE"), indexes=(("parent_id",),)
    )
    _named_slugged(
        "tenant",
        _ref("tenant", "group_id", "tenant_group", "SET NULL"),
        _text("comments"),
        indexes=(("group_id",),),
    )
    _named_slugged(
        "site",
        _ref("site", "status_id", "status", "RESTRICT", nullable=False),
        _ref("site", "region_id", "region", "SET NULL"),
        _ref("site", "tenant_id", "tenant", "RESTRICT"),
        _text("facility", 50),
        sa.Column("asn", sa.BigInteger(), nullable=True),
        _text("time_zone", 63, nullable=True),
        _text("physical_address", 200),
        _text("shipping_address", 200),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        _text("contact_name", 50),
        _text("contact_phone", 20),
        _text("contact_email", 254),
        _text("comments"),
        indexes=(("status_id",), ("region_id",), ("tenant_id",)),
    )


def _dcim(sqlite: bool) -> None:
    _named_slugged("manufacturer")
    _create(
        "device_type",
        _ref("device_type", "manufacturer_id", "manufacturer", "RESTRICT", nullable=False),
        _text("model", 100),
        _text("slug", 100),
        _text("part_number", 50),
        sa.Column("u_height", sa.Integer(), nullable=False),
        sa.Column("is_full_depth", sa.Boolean(), nullable=False),
        _text("comments"),
        unique=(("manufacturer_id", "model"), ("manufacturer_id", "slug")),
    )
    _named_slugged("device_role", _text("color", 6), sa.Column("vm_role", sa.Boolean(), nullable=False))
    _named_slugged(
        "platform",
        _ref("platform", "manufacturer_id", "manufacturer", "SET NULL"),
        _text("napalm_driver", 50),
        sa.Column("napalm_args", sa.JSON(), nullable=True),
        indexes=(("manufacturer_id",),),
    )
    # device <-> ip_address is a cycle: PostgreSQL gets those two keys once ip_address exists;
    # SQLite cannot add constraints later but does not need the target to exist yet.
    primary_ip_keys = [
        sa.ForeignKeyConstraint([column], ["ip_address.id"], name=f"fk_device_{column}_ip_address", ondelete="SET NULL")
        for column in ("primary_ip4_id", "primary_ip6_id")
    ]
    _create(
        "device",
        _text("name", 64, nullable=True),
        _ref("device", "device_type_id", "device_type", "RESTRICT", nullable=False),
        _ref("device", "device_role_id", "device_role", "RESTRICT", nullable=False),
        _ref("device", "site_id", "site", "RESTRICT", nullable=False),
        _ref("device", "status_id", "status", "RESTRICT", nullable=False),
        _ref("device", "platform_id", "platform", "SET NULL"),
        _ref("device", "tenant_id", "tenant", "RESTRICT"),
        _text("serial", 255),
        _text("asset_tag", 100, nullable=True),
        sa.Column("primary_ip4_id", sa.Uuid(), nullable=True),
        sa.Column("primary_ip6_id", sa.Uuid(), nullable=True),
        _text("comments"),
        *(primary_ip_keys if sqlite else []),
        unique=(("asset_tag",), ("site_id", "name")),
        indexes=(
            ("device_type_id",),
            ("device_role_id",),
            ("site_id",),
            ("status_id",),
            ("platform_id",),
            ("tenant_id",),
        ),
    )
    _create(
        "cable",
        _text("termination_a_type", 100),
        sa.Column("termination_a_id", sa.Uuid(), nullable=False),
        _text("termination_b_type", 100),
        sa.Column("termination_b_id", sa.Uuid(), nullable=False),
        _ref("cable", "status_id", "status", "RESTRICT", nullable=False),
        _text("type", 50),
        _text("label", 100),
        _text("color", 6),
        sa.Column("length", sa.Integer(), nullable=True),
        _text("length_unit", 50),
        unique=(("termination_a_type", "termination_a_id"), ("termination_b_type", "termination_b_id")),
        indexes=(("status_id",),),
    )
    _device_component(
        "interface",
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("mgmt_only", sa.Boolean(), nullable=False),
        _text("mac_address", 18, nullable=True),
        sa.Column("mtu", sa.Integer(), nullable=True),
    )
    _device_component("console_port")
    _device_component("console_server_port")
    _device_component(
        "power_port",
        sa.Column("maximum_draw", sa.Integer(), nullable=True),
        sa.Column("allocated_draw", sa.Integer(), nullable=True),
    )
    _device_component("power_outlet", _text("feed_leg", 50))


def _ipam(sqlite: bool) -> None:
    _create(
        "vlan",
        sa.Column("vid", sa.Integer(), nullable=False),
        _text("name", 64),
        _ref("vlan", "site_id", "site", "SET NULL"),
        _ref("vlan", "status_id", "status", "RESTRICT", nullable=False),
        _ref("vlan", "tenant_id", "tenant", "RESTRICT"),
        _text("description", 200),
        unique=(("site_id", "vid"),),
        indexes=(("site_id",), ("status_id",), ("tenant_id",)),
    )
    _create(
        "prefix",
        _text("prefix", 64),
        _text("network", 39),
        sa.Column("prefix_length", sa.Integer(), nullable=False),
        sa.Column("ip_version", sa.Integer(), nullable=False),
        _text("network_key", 32),
        _text("broadcast_key", 32),
        _ref("prefix", "status_id", "status", "RESTRICT", nullable=False),
        _ref("prefix", "site_id", "site", "SET NULL"),
        _ref("prefix", "vlan_id", "vlan", "SET NULL"),
        _ref("prefix", "tenant_id", "tenant", "RESTRICT"),
        sa.Column("is_pool", sa.Boolean(), nullable=False),
        _text("description", 200),
        indexes=(
            ("ip_version", "network_key", "broadcast_key"),
            ("status_id",),
            ("site_id",),
            ("vlan_id",),
            ("tenant_id",),
        ),
    )
    _create(
        "ip_address",
        _text("address", 64),
        _text("host", 39),
        sa.Column("prefix_length", sa.Integer(), nullable=False),
        sa.Column("ip_version", sa.Integer(), nullable=False),
        _text("host_key", 32),
        _ref("ip_address", "status_id", "status", "RESTRICT", nullable=False),
        _ref("ip_address", "interface_id", "interface", "SET NULL"),
        _ref("ip_address", "tenant_id", "tenant", "RESTRICT"),
        _text("role", 50),
        _text("dns_name", 255),
        _text("description", 200),
        indexes=(("host",), ("ip_version", "host_key"), ("status_id",), ("interface_id",), ("tenant_id",)),
    )
    if not sqlite:
        for column in ("primary_ip4_id", "primary_ip6_id"):
            op.create_foreign_key(
                f"fk_device_{column}_ip_address", "device", "ip_address", [column], ["id"], ondelete="SET NULL"
            )


def _jobs() -> None:
    _create(
        "user",
        _text("username", 150),
        _flag("is_superuser", False),
        _flag("is_active", True),
        sa.Column("created", TIMESTAMP, nullable=False, server_default=NOW),
        unique=(("username",),),
    )
    _create(
        "job",
        _text("source", 16),
        _text("module_name", 100),
        _text("job_class_name", 100),
        _text("slug", 320),
        _text("grouping", 255),
        _text("name", 100),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        *(_flag(name, default) for name, default in JOB_FLAGS),
        sa.Column("soft_time_limit", sa.Float(), nullable=False, server_default=sa.text("0")),
        sa.Column("time_limit", sa.Float(), nullable=False, server_default=sa.text("0")),
        sa.Column("task_queues", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
        *(_flag(f"{field}_override", False) for field in JOB_OVERRIDABLE_FIELDS),
        sa.Column("created", TIMESTAMP, nullable=False, server_default=NOW),
        sa.Column("last_updated", TIMESTAMP, nullable=False, server_default=NOW),
        unique=(("slug",), ("source", "module_name", "job_class_name"), ("grouping", "name")),
    )
    _create(
        "job_result",
        _ref("job_result", "job_model_id", "job", "SET NULL"),
        _text("name", 255),
        sa.Column("created", TIMESTAMP, nullable=False, server_default=NOW),
        sa.Column("started", TIMESTAMP, nullable=True),
        sa.Column("completed", TIMESTAMP, nullable=True),
        _ref("job_result", "user_id", "user", "SET NULL"),
        sa.Column("status", sa.String(30), nullable=False, server_default="pending"),
        _text("reason", nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("job_kwargs", sa.JSON(), nullable=True),
        _text("task_queue", 100, nullable=True),
        _text("worker", 255, nullable=True),
        _counter("attempt"),
        sa.Column("lease_expires", TIMESTAMP, nullable=True),
        *(_counter(f"log_{level}") for level in ("default", "success", "info", "warning", "failure")),
        indexes=(("job_model_id",), ("name",), ("created",), ("completed",), ("user_id",), ("status", "created")),
    )
    _create(
        "job_log_entry",
        _ref("job_log_entry", "job_result_id", "job_result", "CASCADE", nullable=False),
        _counter("seq"),
        sa.Column("log_level", sa.String(32), nullable=False, server_default="default"),
        sa.Column("grouping", sa.String(100), nullable=False, server_default="main"),
        sa.Column("message", sa.Text(), nullable=False, server_default=""),
        sa.Column("created", TIMESTAMP, nullable=False, server_default=NOW),
        _text("log_object", 200, nullable=True),
        _text("object_type", 100, nullable=True),
        _text("object_id", 64, nullable=True),
        _text("absolute_url", 255, nullable=True),
        indexes=(("job_result_id", "created", "seq"),),
    )


def _seed_statuses() -> None:
    status = sa.table(
        "status",
        sa.column("id", sa.Uuid()),
        sa.column("slug", sa.String()),
        sa.column("name", sa.String()),
        sa.column("color", sa.String()),
        sa.column("description", sa.String()),
    )
    op.bulk_insert(
        status,
        [
            {"id": uuid.uuid4(), "slug": slug, "name": name, "color": color, "description": ""}
            for slug, name, color in DEFAULT_STATUSES
        ],
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    _organization()
    _dcim(sqlite)
    _ipam(sqlite)
    _jobs()
    if not sqlite:
        # Log entries are bulk-copied without ids; the server draws them.
        op.execute("ALTER TABLE job_log_entry ALTER COLUMN id SET DEFAULT gen_random_uuid()")
    _seed_statuses()


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        for column in ("primary_ip4_id", "primary_ip6_id"):
            op.drop_constraint(f"fk_device_{column}_ip_address", "device", type_="foreignkey")
    for name in (
        "job_log_entry",
        "job_result",
        "job",
        "user",
        "ip_address",
        "prefix",
        "vlan",
        "power_outlet",
        "power_port",
        "console_server_port",
        "console_port",
        "interface",
        "cable",
        "device",
        "platform",
        "device_role",
        "device_type",
        "manufacturer",
        "site",
        "tenant",
        "tenant_group",
        "region",
        "status",
    ):
        op.drop_table(name)
