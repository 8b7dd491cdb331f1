"""kvkgate: the shared layer that checks Dutch KVK numbers against the KVK Handelsregister.

Importing this package (or any of its modules) does no I/O and creates no client: clients are
built on first use, once per execution environment.
"""

__version__ = "0.1.0"
