"""A Nautobot 1.x job that adds a custom field with a default, then creates sites without validating them."""

from django.contrib.contenttypes.models import ContentType
from nautobot.dcim.models import Site
from nautobot.extras.choices import CustomFieldTypeChoices
from nautobot.extras.jobs import Job
from nautobot.extras.models import CustomField


class SitesWithDefaults(Job):
    class Meta:
        name = "Sites with a defaulted custom field"

    def run(self, data, commit):
        field = CustomField(name="owner", type=CustomFieldTypeChoices.TYPE_TEXT, default="netops")
        field.validated_save()
        field.content_types.set([ContentType.objects.get_for_model(Site)])
        self.log_success(obj=field, message="custom field ready")

        first = Site.objects.create(name="Depot One", slug="depot-one")
        first.cf[field.name] = "facilities"
        first.save()
        second = Site.objects.create(name="Depot Two", slug="depot-two")
        self.log_success(obj=second, message=f"{first.cf[field.name]} / {second.cf[field.name]}")
        return "done"
