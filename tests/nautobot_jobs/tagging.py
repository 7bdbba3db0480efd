"""A Nautobot 1.x job that sets up a custom field and tags sites by its value."""

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from nautobot.dcim.models import Site
from nautobot.extras.choices import CustomFieldTypeChoices
from nautobot.extras.jobs import Job, StringVar
from nautobot.extras.models import CustomField, Tag


class TagByRegion(Job):
    class Meta:
        name = "Tag sites by region code"
        has_sensitive_variables = False

    region_code = StringVar(regex=r"^[A-Z]{2}$")

    def run(self, data, commit):
        field, _ = CustomField.objects.get_or_create(
            name="region_code", defaults={"type": CustomFieldTypeChoices.TYPE_TEXT, "validation_regex": r"^[A-Z]{2}$"}
        )
        field.content_types.add(ContentType.objects.get_for_model(Site))
        field.validated_save()
        tag, _ = Tag.objects.get_or_create(name=f"region-{data['region_code'].lower()}")
        for site in Site.objects.filter(cf_region_code=data["region_code"]):
            site.tags.add(tag)
            self.log_success(obj=site, message=f"tagged {tag.slug}")
        rogue = Site.objects.filter(_custom_field_data__region_code="eu").first()
        if rogue is not None:
            try:
                rogue.validated_save()
            except ValidationError as error:
                self.log_warning(obj=rogue, message=str(error))
        return Site.objects.filter(tags__slug=tag.slug).count()
