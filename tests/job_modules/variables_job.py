"""A job with a variable of every kind, to exercise input validation end to end."""

from jobruntime import (
    BooleanVar,
    ChoiceVar,
    IntegerVar,
    IPAddressVar,
    IPNetworkVar,
    Job,
    MultiObjectVar,
    ObjectVar,
    StringVar,
)
from jobruntime.models import Site, Status


class EveryVariable(Job):
    class Meta:
        name = "Every variable"
        field_order = ["site_name", "count"]
        has_sensitive_variables = False

    count = IntegerVar(min_value=0, max_value=3)
    site_name = StringVar(regex=r"^[A-Z]", max_length=20)
    flag = BooleanVar()
    colour = ChoiceVar(choices=(("ff0000", "Red"), ("00ff00", "Green")), required=False)
    status = ObjectVar(model=Status)
    sites = MultiObjectVar(model=Site, required=False)
    address = IPAddressVar(required=False)
    network = IPNetworkVar(required=False, min_prefix_length=8)

    def run(self, data, commit):
        self.log_info(f"status={data['status'].slug} count={data['count']} flag={data['flag']}")
        return repr(sorted(data))
