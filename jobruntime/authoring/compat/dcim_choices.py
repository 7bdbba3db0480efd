"""What ``nautobot.dcim.choices`` provides: the values of the DCIM fields jobruntime keeps, as Nautobot spells them."""

from jobruntime.authoring.compat.choice_set import ChoiceSet


class InterfaceTypeChoices(ChoiceSet):
    TYPE_VIRTUAL = "virtual"
    TYPE_LAG = "lag"
    TYPE_100ME_FIXED = "100base-tx"
    TYPE_1GE_FIXED = "1000base-t"
    TYPE_1GE_SFP = "1000base-x-sfp"
    TYPE_2GE_FIXED = "2.5gbase-t"
    TYPE_5GE_FIXED = "5gbase-t"
    TYPE_10GE_FIXED = "10gbase-t"
    TYPE_10GE_SFP_PLUS = "10gbase-x-sfpp"
    TYPE_25GE_SFP28 = "25gbase-x-sfp28"
    TYPE_40GE_QSFP_PLUS = "40gbase-x-qsfpp"
    TYPE_100GE_QSFP28 = "100gbase-x-qsfp28"
    TYPE_OTHER = "other"

    CHOICES = (
        ("Virtual interfaces", ((TYPE_VIRTUAL, "Virtual"), (TYPE_LAG, "Link Aggregation Group (LAG)"))),
        ("Ethernet (fixed)", (
            (TYPE_100ME_FIXED, "100BASE-TX (10/100ME)"),
            (TYPE_1GE_FIXED, "1000BASE-T (1GE)"),
            (TYPE_2GE_FIXED, "2.5GBASE-T (2.5GE)"),
            (TYPE_5GE_FIXED, "5GBASE-T (5GE)"),
            (TYPE_10GE_FIXED, "10GBASE-T (10GE)"),
        )),
        ("Ethernet (modular)", (
            (TYPE_1GE_SFP, "SFP (1GE)"),
            (TYPE_10GE_SFP_PLUS, "SFP+ (10GE)"),
            (TYPE_25GE_SFP28, "SFP28 (25GE)"),
            (TYPE_40GE_QSFP_PLUS, "QSFP+ (40GE)"),
            (TYPE_100GE_QSFP28, "QSFP28 (100GE)"),
        )),
        ("Other", ((TYPE_OTHER, "Other"),)),
    )


class InterfaceModeChoices(ChoiceSet):
    MODE_ACCESS = "access"
    MODE_TAGGED = "tagged"
    MODE_TAGGED_ALL = "tagged-all"

    CHOICES = (
        (MODE_ACCESS, "Access"),
        (MODE_TAGGED, "Tagged"),
        (MODE_TAGGED_ALL, "Tagged (All)"),
    )


class CableTypeChoices(ChoiceSet):
    TYPE_CAT5E = "cat5e"
    TYPE_CAT6 = "cat6"
    TYPE_CAT6A = "cat6a"
    TYPE_DAC_ACTIVE = "dac-active"
    TYPE_DAC_PASSIVE = "dac-passive"
    TYPE_MMF = "mmf"
    TYPE_SMF = "smf"
    TYPE_POWER = "power"

    CHOICES = (
        ("Copper", (
            (TYPE_CAT5E, "CAT5e"),
            (TYPE_CAT6, "CAT6"),
            (TYPE_CAT6A, "CAT6a"),
            (TYPE_DAC_ACTIVE, "Direct Attach Copper (Active)"),
            (TYPE_DAC_PASSIVE, "Direct Attach Copper (Passive)"),
        )),
        ("Fiber", ((TYPE_MMF, "Multimode Fiber"), (TYPE_SMF, "Singlemode Fiber"))),
        (TYPE_POWER, "Power"),
    )


class CableLengthUnitChoices(ChoiceSet):
    UNIT_METER = "m"
    UNIT_CENTIMETER = "cm"
    UNIT_FOOT = "ft"
    UNIT_INCH = "in"

    CHOICES = (
        (UNIT_METER, "Meters"),
        (UNIT_CENTIMETER, "Centimeters"),
        (UNIT_FOOT, "Feet"),
        (UNIT_INCH, "Inches"),
    )


class DeviceFaceChoices(ChoiceSet):
    FACE_FRONT = "front"
    FACE_REAR = "rear"

    CHOICES = ((FACE_FRONT, "Front"), (FACE_REAR, "Rear"))


__all__ = [
    "CableLengthUnitChoices",
    "CableTypeChoices",
    "DeviceFaceChoices",
    "InterfaceModeChoices",
    "InterfaceTypeChoices",
]
