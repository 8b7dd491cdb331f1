"""The Cognito user pool the sign-up gate guards: decisions recorded on users, and the users to sweep."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Iterator
from typing import Any

from kvkgate.config import ConfigError
from kvkgate.domain.outcomes import UserNotFound
from kvkgate.domain.ports import SignedUpUser

logger = logging.getLogger(__name__)
PAGE = 60  # ListUsers' largest page
# Cognito's answers for a pool that does not exist, or that this function may not use.
MISCONFIGURED = frozenset({"ResourceNotFoundException", "AccessDeniedException"})


class PoolNotGuarded(RuntimeError):
    """A pool this stack was not configured for (and has no IAM rights on)."""


class CognitoUserPool:
    """``AdminUpdateUserAttributes`` and ``ListUsers`` on the pools this stack guards, nothing else."""

    def __init__(
        self,
        client: Any,
        pools: Collection[str],
        decision_attribute: str,
        kvk_number_attribute: str,
        company_name_attribute: str,
    ) -> None:
        self._client = client
        self._pools = frozenset(pools)
        self._decision = decision_attribute
        self._number = kvk_number_attribute
        self._name = company_name_attribute

    def guards(self, user_pool_id: str) -> bool:
        return user_pool_id in self._pools

    def record_decision(self, user_pool_id: str, user_name: str, decision: str) -> bool:
        if not self.guards(user_pool_id):
            return False  # another pool's trigger sent it: this stack has no rights there
        try:
            self._client.admin_update_user_attributes(
                UserPoolId=user_pool_id,
                Username=user_name,
                UserAttributes=[{"Name": self._decision, "Value": decision}],
            )
        except Exception as error:
            if _code(error) == "UserNotFoundException":
                raise UserNotFound(user_name) from None
            if _code(error) in MISCONFIGURED:
                raise _misconfigured(error, user_pool_id) from None
            raise
        return True

    def users(self, user_pool_id: str) -> Iterator[SignedUpUser]:
        if not self.guards(user_pool_id):
            raise PoolNotGuarded(f"user pool {user_pool_id!r} is not the one this stack guards")
        token: str | None = None
        while True:
            arguments: dict[str, Any] = {"UserPoolId": user_pool_id, "Limit": PAGE}
            if token:
                arguments["PaginationToken"] = token
            try:
                page = self._client.list_users(**arguments)
            except Exception as error:
                if _code(error) in MISCONFIGURED:
                    raise _misconfigured(error, user_pool_id) from None
                raise
            for user in page.get("Users", []):
                yield self._user(user)
            token = page.get("PaginationToken")
            if not token:
                return

    def _user(self, user: dict[str, Any]) -> SignedUpUser:
        attributes = {item["Name"]: item.get("Value") for item in user.get("Attributes", [])}
        created = user.get("UserCreateDate")
        return SignedUpUser(
            user_name=user["Username"],
            kvk_number=attributes.get(self._number) or None,
            company_name=attributes.get(self._name) or None,
            created=created.timestamp() if isinstance(created, dt.datetime) else 0.0,
            decided=bool(attributes.get(self._decision)),
        )


def _misconfigured(error: Exception, user_pool_id: str) -> ConfigError:
    message = f"invalid configuration: USER_POOL_ID: user pool {user_pool_id!r} cannot be used: {error}"
    return ConfigError(message, ("USER_POOL_ID",))


def _code(error: Exception) -> str | None:
    response = getattr(error, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None
