"""Shared fixtures: the fixture instance trees and rendered templates."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from instances.registry import load_registry
from templates.partition_email import PartitionEmail
from templates.render import props_for, read_handler_source
from tests.assertions import TemplateAssertions

REPO = Path(__file__).resolve().parent.parent
FIXTURE_INSTANCES = Path(__file__).resolve().parent / "fixtures" / "instances"
PYTHON = sys.executable


@pytest.fixture(scope="session")
def handler_source() -> str:
    return read_handler_source()


@pytest.fixture(scope="session")
def fixture_registry():
    """Alpha002/dev and Beta001/prod: two partitions in two infrastructures."""
    return load_registry(FIXTURE_INSTANCES)


@pytest.fixture(scope="session")
def dev_config(fixture_registry):
    return fixture_registry.partition("dev")


@pytest.fixture(scope="session")
def prod_config(fixture_registry):
    return fixture_registry.partition("prod")


def build(config, handler_source) -> TemplateAssertions:
    return TemplateAssertions(PartitionEmail(props_for(config, handler_source)).template.to_dict())


@pytest.fixture(scope="session")
def dev_template(dev_config, handler_source) -> TemplateAssertions:
    return build(dev_config, handler_source)


@pytest.fixture(scope="session")
def prod_template(prod_config, handler_source) -> TemplateAssertions:
    return build(prod_config, handler_source)


@pytest.fixture
def instance_tree(tmp_path) -> Path:
    """A writable copy of the fixture instance tree for bad-config tests."""
    root = tmp_path / "instances"
    shutil.copytree(FIXTURE_INSTANCES, root)
    return root
