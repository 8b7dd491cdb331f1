"""The domain: what a KVK number, a trade name and a sign-up decision are. Pure: no I/O, no adapters.

Everything it needs from KVK comes through :class:`kvkgate.domain.ports.Registry`, in the
project's own words; the KVK adapter (``kvkgate.kvk``) and the AWS adapters (``kvkgate.aws``)
are never imported here.
"""
