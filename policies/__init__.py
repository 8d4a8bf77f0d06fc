"""The shipped trust policies: ``<name>.toml`` files, installed as this package's data.

There is no code here. ``domain.policy`` reads the files with ``importlib.resources``, so
a wheel install finds them just as a checkout does; see ``docs/policies.md``.
"""
