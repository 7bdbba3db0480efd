"""A plugin package whose jobs module is written for Nautobot 1.x."""
