"""What `sam build` produced: sizes and contents of .aws-sam/build (printed by `make build`, checked by tests)."""

from __future__ import annotations

import argparse
from pathlib import Path

BUILD = Path(__file__).resolve().parents[1] / ".aws-sam" / "build"
LAYER = "KvkgateLayer"
MAX_LAYER_BYTES = 20_000_000  # unzipped; Lambda allows 250 MB for all layers, cold starts like less


def unzipped_bytes(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def largest_packages(layer: Path, count: int = 6) -> list[tuple[str, int]]:
    packages = [(item.name, unzipped_bytes(item)) for item in (layer / "python").iterdir() if item.is_dir()]
    return sorted(packages, key=lambda pair: -pair[1])[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("build", type=Path, nargs="?", default=BUILD)
    layer = parser.parse_args().build / LAYER
    size = unzipped_bytes(layer)
    parts = ", ".join(f"{name} {bytes_ / 1e6:.1f}" for name, bytes_ in largest_packages(layer))
    print(f"layer {LAYER}: {size / 1e6:.2f} MB unzipped (limit {MAX_LAYER_BYTES / 1e6:.0f} MB); largest: {parts}")


if __name__ == "__main__":
    main()
