"""A legacy script, as Nautobot 1.x still ran them: a Script subclass with ``*Var`` inputs."""

from nautobot.extras.scripts import BaseScript, ChoiceVar, IPNetworkVar, Script, StringVar


class Addressing(Script):
    class Meta:
        name = "Addressing plan"
        description = "Split a network into subnets"
        has_sensitive_variables = False
        commit_default = False

    network = IPNetworkVar(min_prefix_length=16, max_prefix_length=24)
    new_length = ChoiceVar(choices=(("26", "/26"), ("27", "/27")))
    label = StringVar(required=False, default="plan")

    def run(self, data, commit):
        subnets = list(data["network"].subnet(int(data["new_length"])))
        self.log_success(f"{data['label']}: {len(subnets)} subnets")
        self.log_info(f"a script is a BaseScript: {isinstance(self, BaseScript)}")
        return "\n".join(str(subnet) for subnet in subnets[:2])
