"""What `sam build` produced: sizes and contents of .aws-sam/build (printed by `make build`, checked by tests)."""

from __future__ import annotations

import argparse
from pathlib import Path

BUILD = Path(__file__).resolve().parents[1] / ".aws-sam" / "build"
LAYER = "KvkgateLayer"
# kvkgate's own budget for the layer, unzipped: every megabyte is read at each cold start.
MAX_LAYER_BYTES = 20_000_000
# Lambda's limit: a function's code and all its layers together, unzipped.
LAMBDA_LIMIT_BYTES = 250 * 1024 * 1024


def unzipped_bytes(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def largest_packages(layer: Path, count: int = 6) -> list[tuple[str, int]]:
    packages = [(item.name, unzipped_bytes(item)) for item in (layer / "python").iterdir() if item.is_dir()]
    return sorted(packages, key=lambda pair: -pair[1])[:count]


def size_report(build: Path) -> str:
    """The layer against kvkgate's budget, and the largest function with the layer against Lambda's limit."""
    layer = build / LAYER
    size = unzipped_bytes(layer)
    parts = ", ".join(f"{name} {bytes_ / 1e6:.1f}" for name, bytes_ in largest_packages(layer))
    functions = [item for item in build.iterdir() if item.is_dir() and item.name != LAYER]
    largest = max(functions, key=unzipped_bytes, default=None)
    total = size + (unzipped_bytes(largest) if largest else 0)
    return (
        f"layer {LAYER}: {size / 1e6:.2f} MB unzipped, kvkgate's budget {MAX_LAYER_BYTES / 1e6:.0f} MB"
        f" (each MB is read at a cold start); largest: {parts}\n"
        f"largest function with the layer ({largest.name if largest else '-'}): {total / 1e6:.2f} MB unzipped"
        f" of Lambda's limit of {LAMBDA_LIMIT_BYTES / 2**20:.0f} MB (function and layers together)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("build", type=Path, nargs="?", default=BUILD)
    print(size_report(parser.parse_args().build))


if __name__ == "__main__":
    main()
