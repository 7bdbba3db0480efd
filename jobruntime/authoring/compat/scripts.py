"""What ``nautobot.extras.scripts`` provides: legacy scripts, which are jobs, and their ``*Var`` names."""

from jobruntime.authoring.compat.jobs import (
    BooleanVar,
    ChoiceVar,
    FileVar,
    IntegerVar,
    IPAddressVar,
    IPAddressWithMaskVar,
    IPNetworkVar,
    Job,
    MultiChoiceVar,
    MultiObjectVar,
    ObjectVar,
    ScriptVariable,
    StringVar,
    TextVar,
)

BaseScript = Job
Script = Job

__all__ = [
    "BaseScript",
    "BooleanVar",
    "ChoiceVar",
    "FileVar",
    "IPAddressVar",
    "IPAddressWithMaskVar",
    "IPNetworkVar",
    "IntegerVar",
    "MultiChoiceVar",
    "MultiObjectVar",
    "ObjectVar",
    "Script",
    "ScriptVariable",
    "StringVar",
    "TextVar",
]
