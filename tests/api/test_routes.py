"""Routes are declared once: the handler's route table answers exactly the template's routes."""

from __future__ import annotations

import sys

from local.lambda_runtime import functions, load_handler


def test_the_handler_serves_exactly_the_templates_routes() -> None:
    spec = functions()["ApiFunction"]
    handler = load_handler(spec)
    module = sys.modules[handler.__module__]
    template_routes = {f"{route.method} {route.path}" for route in spec.routes}
    assert set(module.ROUTES) == template_routes
    assert set(module.PAID_ROUTES) < template_routes
