"""The operator's configuration reference is generated from the traits' help."""

from pathlib import Path

from jupyter_cull_ext.traitdocs import render
from jupyter_cull_ext.traits import CullTraits

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def test_configuration_reference_is_up_to_date():
    assert DOC.read_text() == render(), (
        "docs/configuration.md is stale: python -m jupyter_cull_ext.traitdocs > "
        "docs/configuration.md")


def test_every_trait_has_help():
    for name, trait in CullTraits.class_own_traits(config=True).items():
        assert len(trait.help.split()) >= 8, name
