"""The KVK API key, read from Secrets Manager through Powertools and cached per execution environment."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from kvkgate.clock import SYSTEM_CLOCK, Clock
from kvkgate.kvk import redaction

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

# Powertools parameters costs ~230 ms to import (toolchain.md); it is imported on first fetch only.
DEFAULT_MAX_AGE_SECONDS = 3600
# While the secret is missing or holds no usable key (the template's placeholder), it is read
# again this often: the operator's fix takes effect within minutes, and an outage of Secrets
# Manager is not a request per KVK lookup.
UNUSABLE_RETRY_SECONDS = 300
# What template.yaml's created secret holds until the operator puts a real key in it.
PLACEHOLDER = "REPLACE_WITH_YOUR_KVK_API_KEY"
# A read that failed for a passing reason (a timeout, throttling, Secrets Manager down) is tried again
# within seconds, the wait doubling while it keeps failing: a blip must not stop KVK calls for minutes.
TRANSIENT_FIRST_RETRY_SECONDS = 1.0
TRANSIENT_LAST_RETRY_SECONDS = 16.0
# Secrets Manager's answers that are facts about the configuration, not passing failures.
CONFIGURATION_ERRORS = frozenset(
    {"ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure", "InvalidRequestException"}
)


# At import, so that even the first GetSecretValue is covered.
redaction.install()


class SecretError(RuntimeError):
    """The secret could not be read or holds no usable key. The message never contains the value.

    ``setting``: the environment variable that named the secret (set by the source that read it).
    """

    setting: str | None = None


class SecretUnusable(SecretError):
    """The secret does not exist, may not be read by this function, or holds no usable key: the
    configuration is wrong, and asking again before the operator fixes it changes nothing."""


class SecretUnreachable(SecretError):
    """Secrets Manager could not be asked just now (timeout, throttling, outage)."""


class ApiKey:
    """The key as a value that cannot leak through ``repr``/``str`` into logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "ApiKey('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class ApiKeySource(Protocol):
    def get(self, *, refresh: bool = False) -> ApiKey: ...


def parse_secret_value(value: str | bytes) -> ApiKey:
    """The secret is either the raw key or ``{"apiKey": "..."}``."""
    text = value.decode() if isinstance(value, bytes) else value
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise SecretUnusable("the KVK API key secret looks like JSON but does not parse") from None
        key = data.get("apiKey") if isinstance(data, dict) else None
        if not isinstance(key, str) or not key.strip():
            raise SecretUnusable('the KVK API key secret is JSON without a non-empty "apiKey" field')
        text = key.strip()
    if not text:
        raise SecretUnusable("the KVK API key secret is empty")
    if text == PLACEHOLDER:
        raise SecretUnusable(
            "the KVK API key secret still holds the placeholder from template.yaml; put your key in it"
        )
    return ApiKey(text)


class StaticApiKey:
    """A key given directly: for the local sandbox and tests."""

    def __init__(self, key: str) -> None:
        self._key = ApiKey(key)

    def get(self, *, refresh: bool = False) -> ApiKey:
        return self._key


class SecretsManagerApiKey:
    """Reads ``secret_id`` once, keeps it for ``max_age`` seconds; ``refresh=True`` re-reads (rotation).

    A secret that is missing or unusable is not kept for ``max_age``: the failure stands for
    ``retry_after`` seconds, then the secret is read again. A read that failed for a passing reason
    stands for a second, doubling while it keeps failing, up to ``TRANSIENT_LAST_RETRY_SECONDS``.
    """

    def __init__(
        self,
        secret_id: str,
        max_age: int = DEFAULT_MAX_AGE_SECONDS,
        retry_after: float = UNUSABLE_RETRY_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
        aws_client: Callable[[], Any] | None = None,
        transient_retry: tuple[float, float] = (TRANSIENT_FIRST_RETRY_SECONDS, TRANSIENT_LAST_RETRY_SECONDS),
        setting: str = "KVK_API_KEY_SECRET_ID",
        name: str = "the KVK API key secret",
    ) -> None:
        self._setting = setting  # the variable that named the secret: what a failure is reported under
        self._name = name
        self._aws_client = aws_client  # a boto3 Secrets Manager client with bounded timeouts
        self._transient_retry = transient_retry  # first wait after a passing failure, and the longest
        self._secret_id = secret_id
        self._max_age = max_age
        self._retry_after = retry_after
        self._clock = clock
        self._lock = threading.Lock()
        self._provider: SecretsProvider | None = None
        self._unusable: tuple[SecretError, float] | None = None  # the failure, and until when it stands
        self._transient_failures = 0  # reads in a row that failed for a passing reason

    def _fetch(self, refresh: bool) -> str | bytes:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        if self._provider is None:
            self._provider = SecretsProvider(boto3_client=self._aws_client() if self._aws_client else None)
        value = self._provider.get(self._secret_id, max_age=self._max_age, force_fetch=refresh)
        if not isinstance(value, str | bytes):
            raise SecretUnusable(f"{self._name} has no string value")
        return value

    def get(self, *, refresh: bool = False) -> ApiKey:
        with self._lock:
            now = self._clock.monotonic()
            if self._unusable is not None and now < self._unusable[1]:
                raise self._unusable[0]
            try:
                # After a failure Powertools' copy may be the placeholder: read past it.
                key = parse_secret_value(self._read(refresh or self._unusable is not None))
            except SecretError as error:
                error.setting = self._setting
                self._unusable = (error, now + self._wait_after(error))
                raise
            self._unusable = None
            self._transient_failures = 0
            return key

    def _wait_after(self, error: SecretError) -> float:
        if not isinstance(error, SecretUnreachable):
            return self._retry_after
        first, last = self._transient_retry
        wait = first * 2**self._transient_failures
        self._transient_failures += 1
        return float(min(wait, last))

    def _read(self, refresh: bool) -> str | bytes:
        try:
            return self._fetch(refresh)
        except SecretError:
            raise
        except Exception as error:
            # A failed read cannot contain the value, so AWS's own message is safe to pass on.
            kind = SecretUnusable if _aws_error_code(error) in CONFIGURATION_ERRORS else SecretUnreachable
            raise kind(f"could not read {self._name} {self._secret_id!r}: {type(error).__name__}: {error}") from error


def _aws_error_code(error: BaseException) -> str | None:
    """The AWS error code behind ``error``: Powertools re-raises botocore's error as GetParameterError."""
    seen: BaseException | None = error
    for _ in range(5):
        if seen is None:
            return None
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            return str(code) if code else None
        seen = seen.__cause__ or seen.__context__
    return None
