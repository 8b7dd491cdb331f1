"""Use cases on top of the domain: the HTTP API plumbing, onboarding and the pre-sign-up decision.

They take their collaborators (registry, publisher) as arguments; only the composition root
(``kvkgate.root``) and the handlers wire real adapters to them.
"""
