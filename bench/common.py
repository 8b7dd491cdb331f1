"""What every benchmark needs beyond local/: fresh tables and tables of figures."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import boto3

from local.aws_resources import create_tables

ROOT = Path(__file__).resolve().parents[1]


def fresh_table() -> str:
    """A new, empty copy of the template's table on whatever AWS_ENDPOINT_URL points at."""
    return create_tables(boto3.client("dynamodb"), prefix=f"bench-{uuid.uuid4().hex[:8]}")["KvkgateTable"]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, so the output can be pasted into docs/benchmarks.md as it is."""
    cells = [[str(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    lines = [
        "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |" for row in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


def quiet_offline_aws() -> None:
    """What every simulated-stack benchmark sets: in-process moto's fake credentials, and no metric
    or log lines (a simulated day of refusals would print a day of warnings)."""
    os.environ.update(
        AWS_DEFAULT_REGION="eu-west-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - moto's, not a secret
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="CRITICAL",
    )
    logging.disable(logging.CRITICAL)
