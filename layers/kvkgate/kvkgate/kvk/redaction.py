"""Log filters that keep the KVK API key out of other libraries' DEBUG logs.

* httpcore's DEBUG trace prints response headers, and KVK's gateway echoes the API key in one
  (``apiAuthzDetails``): the event is kept, the headers are withheld.
* botocore's DEBUG logs print request and response bodies, Secrets Manager's secret values
  included: everything from ``SecretString`` on is cut.

:func:`install` is idempotent and costs microseconds; the client and the key source call it at
import, so no log line of this process, however early, can carry the key.
"""

from __future__ import annotations

import logging

HEADER_LOGGERS = ("httpcore.http11", "httpcore.http2")
BODY_LOGGERS = ("botocore.endpoint", "botocore.parsers")


class WithholdResponseHeaders(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("receive_response_headers.complete"):
            record.msg, record.args = "receive_response_headers.complete (headers withheld by kvkgate)", ()
        return True


class RedactSecretStrings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "SecretString" in message:
            # Bodies nest and escape JSON inside reprs; cutting is safer than parsing.
            record.msg, record.args = (
                message[: message.index("SecretString")] + "SecretString ... (withheld by kvkgate)",
                (),
            )
        return True


def install() -> None:
    for names, kind in ((HEADER_LOGGERS, WithholdResponseHeaders), (BODY_LOGGERS, RedactSecretStrings)):
        for name in names:
            logger = logging.getLogger(name)
            if not any(isinstance(existing, kind) for existing in logger.filters):
                logger.addFilter(kind())
