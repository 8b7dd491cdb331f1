"""What `make build` (sam build with Python 3.12) produced is what Lambda needs: checked file by file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from local.artifact import BUILD, LAYER, MAX_LAYER_BYTES, unzipped_bytes
from local.lambda_runtime import functions
from tests.conftest import ROOT, pruned_modules

pytestmark = pytest.mark.skipif(
    not BUILD.is_dir() and os.environ.get("KVKGATE_REQUIRE_BUILD") != "1",
    reason="no .aws-sam/build: run `make build` (make test does)",
)


def layer() -> Path:
    return BUILD / LAYER / "python"


def python_files(where: Path) -> list[Path]:
    return [path for path in where.rglob("*.py") if "__pycache__" not in path.parts]


def test_every_module_ships_compiled_for_python_312() -> None:
    for where in [layer(), *(BUILD / name for name in functions())]:
        sources = python_files(where)
        assert sources, where
        missing = [
            path for path in sources if not (path.parent / "__pycache__" / f"{path.stem}.cpython-312.pyc").is_file()
        ]
        assert missing == [], f"{len(missing)} modules in {where.name} without a .pyc, e.g. {missing[:3]}"


def test_the_layer_holds_arm64_wheels_and_no_boto() -> None:
    libraries = [path.name for path in layer().rglob("*.so")]
    assert libraries, "no compiled extension in the layer (pydantic-core has one)"
    assert all("aarch64" in name for name in libraries), [name for name in libraries if "aarch64" not in name]
    assert not (layer() / "boto3").exists()
    assert not (layer() / "botocore").exists()


def test_the_layer_carries_the_kvk_chain_and_the_vocabularies() -> None:
    shipped = layer() / "kvkgate" / "kvk" / "pkioverheid-private-g1-chain.pem"
    source = ROOT / "layers/kvkgate/kvkgate/kvk/pkioverheid-private-g1-chain.pem"
    assert shipped.read_bytes() == source.read_bytes()
    vocabulary = sorted(path.name for path in (ROOT / "layers/kvkgate/kvkgate/domain/vocabulary").iterdir())
    assert sorted(path.name for path in (layer() / "kvkgate/domain/vocabulary").iterdir()) == vocabulary


def test_pruned_packages_are_gone_and_the_layer_stays_small() -> None:
    for module in pruned_modules():
        path = module.replace(".", "/")
        assert not list(layer().glob(path if path.endswith("*") else path + "*")), module
    size = unzipped_bytes(BUILD / LAYER)
    assert size <= MAX_LAYER_BYTES, f"layer is {size / 1e6:.2f} MB unzipped"


def test_functions_hold_only_their_handler() -> None:
    for logical_id, spec in functions().items():
        module = spec.handler.split(".")[0]
        shipped = sorted(path.name for path in python_files(BUILD / logical_id))
        assert shipped == [f"{module}.py"], logical_id
