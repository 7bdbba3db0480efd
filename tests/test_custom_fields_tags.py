"""Custom fields and tags on inventory objects, with Nautobot 1.x's rules and messages."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobruntime.models import (
    ContentType,
    CustomField,
    CustomFieldChoice,
    Device,
    DeviceRole,
    DeviceType,
    Manufacturer,
    Site,
    Status,
    Tag,
    TaggedItem,
    ValidationError,
)


@pytest.fixture
def active(session: Session) -> Status:
    return Status.objects.get(slug="active")


def site_field(name: str, type: str = "text", **options) -> CustomField:
    field = CustomField(name=name, type=type, **options)
    field.content_types.add(ContentType.objects.get_for_model(Site))
    field.validated_save()
    return field


def new_site(active: Status, name: str = "HQ", **data) -> Site:
    return Site(name=name, status=active, _custom_field_data=data)


def refusal(site: Site) -> str:
    with pytest.raises(ValidationError) as caught:
        site.validated_save()
    return str(caught.value)


def test_values_are_read_as_cf_custom_field_data_and_saved_with_the_object(active, session):
    site_field("region_code")
    site = new_site(active, region_code="EU")
    site.validated_save()
    site.cf["region_code"] = "US"
    site.validated_save()
    session.expire_all()
    stored = Site.objects.get(name="HQ")
    assert stored.cf == stored.custom_field_data == stored._custom_field_data == {"region_code": "US"}


def test_text_value_must_match_the_regex(active):
    site_field("region_code", validation_regex="^[A-Z]{2}$")
    assert refusal(new_site(active, region_code="europe")) == (
        "Invalid value for custom field 'region_code': Value must match regex '^[A-Z]{2}$'"
    )


def test_integer_value_keeps_to_its_bounds_and_is_stored_as_an_integer(active):
    site_field("floors", "integer", validation_minimum=1, validation_maximum=50)
    assert refusal(new_site(active, floors=0)) == "Invalid value for custom field 'floors': Value must be at least 1"
    assert refusal(new_site(active, floors=51)) == "Invalid value for custom field 'floors': Value must not exceed 50"
    assert refusal(new_site(active, floors="many")) == "Invalid value for custom field 'floors': Value must be an integer."
    site = new_site(active, floors="12")
    site.validated_save()
    assert site.cf["floors"] == 12


def test_boolean_date_url_and_json_values_are_checked(active):
    site_field("staffed", "boolean")
    site_field("opened", "date")
    site_field("wiki", "url")
    site_field("extra", "json")
    assert refusal(new_site(active, staffed="perhaps")) == (
        "Invalid value for custom field 'staffed': Value must be true or false."
    )
    assert refusal(new_site(active, opened="5/12/2026")) == (
        "Invalid value for custom field 'opened': Date values must be in the format YYYY-MM-DD."
    )
    assert refusal(new_site(active, wiki=42)) == "Invalid value for custom field 'wiki': Value must be a string"
    site = new_site(active, staffed="yes", opened=dt.date(2026, 12, 5), wiki="https://wiki", extra={"racks": [1, 2]})
    site.validated_save()
    assert site.cf == {"staffed": True, "opened": "2026-12-05", "wiki": "https://wiki", "extra": {"racks": [1, 2]}}


def test_select_and_multi_select_values_must_be_choices(active):
    tier = site_field("tier", "select")
    roles = site_field("roles", "multi-select")
    for field, values in ((tier, ("gold", "silver")), (roles, ("edge", "core"))):
        for value in values:
            CustomFieldChoice.objects.create(field=field, value=value)
    assert refusal(new_site(active, tier="bronze")) == (
        "Invalid value for custom field 'tier': Invalid choice (bronze). Available choices are: gold, silver"
    )
    assert refusal(new_site(active, roles=["edge", "dmz"])) == (
        "Invalid value for custom field 'roles': Invalid choice(s) (['edge', 'dmz']). Available choices are: core, edge"
    )
    new_site(active, tier="gold", roles=["edge", "core"]).validated_save()


def test_choices_belong_only_to_selection_fields(active):
    text = site_field("note")
    with pytest.raises(ValidationError, match="Custom field choices can only be assigned to selection fields."):
        CustomFieldChoice(field=text, value="x").validated_save()


def test_required_field_must_be_given_and_a_default_fills_a_missing_value(active):
    site_field("owner", required=True)
    site_field("floors", "integer", default=1)
    assert refusal(new_site(active)) == "Missing required custom field 'owner'."
    site = new_site(active, owner="netops")
    site.validated_save()
    assert site.cf == {"owner": "netops", "floors": 1}


def test_a_value_for_no_field_of_the_model_is_refused(active):
    device_field = CustomField(name="serial_check", type="boolean")
    device_field.content_types.add(ContentType.objects.get_for_model(Device))
    device_field.validated_save()
    assert refusal(new_site(active, serial_check=True)) == "Unknown field name 'serial_check' in custom field data."


def test_create_saves_custom_field_data_without_validating_it(active):
    site_field("floors", "integer", validation_minimum=1)
    Site.objects.create(name="Unchecked", status=active, _custom_field_data={"floors": 0})
    assert Site.objects.get(name="Unchecked").cf == {"floors": 0}


def test_objects_are_filtered_by_custom_field_values(active):
    site_field("region_code")
    site_field("floors", "integer")
    for name, region, floors in (("A", "EU", 2), ("B", "US", 10), ("C", "EU", 30)):
        new_site(active, name, region_code=region, floors=floors).validated_save()
    new_site(active, "D").validated_save()
    names = lambda **lookups: sorted(Site.objects.filter(**lookups).values_list("name", flat=True))  # noqa: E731
    assert names(cf_region_code="EU") == ["A", "C"]
    assert names(_custom_field_data__region_code="US") == ["B"]
    assert names(cf_floors__gte=10) == ["B", "C"]
    assert names(cf_floors__in=[2, 30]) == ["A", "C"]
    assert names(cf_region_code__icontains="u") == ["A", "B", "C"]
    assert names(cf_region_code__isnull=True) == ["D"]
    assert sorted(Site.objects.exclude(cf_region_code="EU").values_list("name", flat=True)) == ["B", "D"]


def test_field_content_types_say_which_models_it_applies_to(session):
    field = CustomField(name="asset_tag")
    site_type, device_type = (ContentType.objects.get_for_model(model) for model in (Site, Device))
    field.content_types.set([site_type, device_type])
    field.validated_save()
    field.content_types.remove(device_type)
    field.save()
    session.expire_all()
    stored = CustomField.objects.get(name="asset_tag")
    assert list(stored.content_types.all()) == [site_type]
    assert site_type in stored.content_types and device_type not in stored.content_types
    assert str(site_type) == "dcim | site" and site_type.model_class() is Site


def test_tags_are_added_removed_and_listed(active):
    site = new_site(active)
    site.validated_save()
    edge = Tag.objects.create(name="Edge")
    site.tags.add(edge, "Core")
    site.tags.add("Core")
    assert sorted(tag.name for tag in site.tags.all()) == ["Core", "Edge"]
    assert Tag.objects.get(name="Core").slug == "core"
    site.tags.remove("Core")
    assert site.tags.names() == ["Edge"]
    site.tags.set([Tag.objects.get(name="Core")])
    assert site.tags.slugs() == ["core"]
    site.tags.clear()
    assert site.tags.count() == 0


def test_objects_are_filtered_by_their_tags(active):
    sites = {name: new_site(active, name) for name in ("A", "B", "C")}
    for site in sites.values():
        site.validated_save()
    sites["A"].tags.add("edge")
    sites["B"].tags.add("edge", "core")
    core = Tag.objects.get(name="core")
    names = lambda **lookups: sorted(Site.objects.filter(**lookups).values_list("name", flat=True))  # noqa: E731
    assert names(tags__slug="edge") == ["A", "B"]
    assert names(tags__name__in=["core"]) == ["B"]
    assert names(tags=core) == ["B"]
    assert names(tags__in=[core]) == ["B"]


def test_the_same_tag_on_objects_of_two_models_stays_apart(active):
    site = new_site(active)
    site.validated_save()
    device = Device(name="r1", site=site, status=active, device_role=DeviceRole.objects.create(name="Router"),
                    device_type=DeviceType.objects.create(manufacturer=Manufacturer.objects.create(name="Acme"),
                                                          model="X1"))
    device.validated_save()
    device.tags.add("edge")
    assert site.tags.count() == 0
    assert list(Device.objects.filter(tags__slug="edge")) == [device]
    assert list(Site.objects.filter(tags__slug="edge")) == []


def test_deleting_an_object_removes_its_tag_links(active, session):
    site = new_site(active)
    site.validated_save()
    site.tags.add("edge")
    site.delete()
    assert session.scalar(sa.select(sa.func.count()).select_from(TaggedItem)) == 0
    assert Tag.objects.filter(name="edge").exists()


def test_an_unsaved_object_has_no_tags_yet(active):
    with pytest.raises(ValueError, match="Site objects need to have a primary key value before you can access"):
        new_site(active).tags.all()


def test_custom_fields_are_read_once_per_transaction_and_again_after_a_change(active, session):
    site_field("owner", default="netops")
    reads = []

    def count(conn, cursor, statement, *args):
        if "FROM custom_field" in statement and "custom_field_choice" not in statement:
            reads.append(statement)

    sa.event.listen(session.get_bind(), "before_cursor_execute", count)
    try:
        for name in ("A", "B", "C"):
            Site.objects.create(name=name, status=active)
        assert len(reads) == 1
        floors = CustomField(name="floors", type="integer", default=1)
        floors.validated_save()
        floors.content_types.add(ContentType.objects.get_for_model(Site))
        site = Site.objects.create(name="D", status=active)
    finally:
        sa.event.remove(session.get_bind(), "before_cursor_execute", count)
    assert site.cf == {"owner": "netops", "floors": 1}


def _custom_field_reads(session: Session, action) -> list[str]:
    """The statements reading custom fields (alone or with a uniqueness check) that ``action()`` makes."""
    reads: list[str] = []

    def note(conn, cursor, statement, *args):
        if "FROM custom_field" in statement and "custom_field_choice" not in statement:
            reads.append(statement)

    sa.event.listen(session.get_bind(), "before_cursor_execute", note)
    try:
        action()
    finally:
        sa.event.remove(session.get_bind(), "before_cursor_execute", note)
    return reads


def test_without_custom_fields_validated_save_asks_for_them_with_its_uniqueness_check(active, session):
    session.commit()  # a new transaction: nothing known about custom fields yet
    reads = _custom_field_reads(session, lambda: new_site(active).validated_save())
    assert len(reads) == 1 and "EXISTS" in reads[0] and "site.name" in reads[0]
    assert Site.objects.get(name="HQ").cf == {}


def test_with_custom_fields_validated_save_reads_them_and_applies_their_rules(active, session):
    site_field("owner", default="netops")
    site_field("floors", type="integer", required=True)
    session.commit()
    reads = _custom_field_reads(session, lambda: new_site(active, floors="3").validated_save())
    assert len(reads) == 2  # "any field?" with the uniqueness check, then the fields themselves
    assert Site.objects.get(name="HQ").cf == {"owner": "netops", "floors": 3}
    assert refusal(new_site(active, "Branch")) == "Missing required custom field 'floors'."


def test_a_custom_field_added_but_not_flushed_still_applies_to_the_next_validated_save(active, session):
    session.commit()
    session.add(CustomField(name="owner", default="netops", content_type_labels=["dcim.site"]))
    site = new_site(active)
    site.validated_save()
    assert site.cf == {"owner": "netops"}


def test_a_custom_field_another_transaction_adds_applies_to_the_next_transaction(active, session, engine):
    session.commit()
    new_site(active, "A").validated_save()  # this transaction learns there are no custom fields
    session.commit()
    with Session(engine) as other, other.begin():
        other.add(CustomField(name="owner", default="netops", content_type_labels=["dcim.site"]))
    site = new_site(active, "B")
    site.validated_save()
    assert site.cf == {"owner": "netops"}


def test_managers_answer_get_for_model_as_nautobots_do(active):
    owner = site_field("owner")
    device_only = CustomField(name="serial_check", type="boolean")
    device_only.content_types.add(ContentType.objects.get_for_model(Device))
    device_only.validated_save()
    assert list(CustomField.objects.get_for_model(Site)) == [owner]
    assert list(CustomField.objects.get_for_model(new_site(active))) == [owner]
    assert Status.objects.get_for_model(Device).get(slug="active") == active


def test_tags_for_a_model_are_those_whose_content_types_include_it(session):
    edge = Tag(name="edge")
    edge.content_types.add(ContentType.objects.get_for_model(Site))
    edge.validated_save()
    Tag.objects.create(name="rack-only")
    assert list(Tag.objects.get_for_model(Site)) == [edge]
    assert list(Tag.objects.get_for_model(Device)) == []
