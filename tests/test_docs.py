from pathlib import Path

from classicnets.zoo.table import markdown

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_models_table_in_docs_is_current():
    assert (DOCS / "models.md").read_text() == markdown(), \
        "regenerate with: python -m classicnets.zoo.table > docs/models.md"


def test_catalog_for_listings_is_current():
    from classicnets import catalog
    assert catalog.PATH.read_text() == catalog.text(catalog.build()), "regenerate with: python -m classicnets.catalog"


def test_recipes_page_lists_every_recipe_and_is_current():
    from classicnets.recipes import list_recipes, markdown
    text = (DOCS / "recipes.md").read_text()
    assert text == markdown(), "regenerate with: python -m classicnets.recipes > docs/recipes.md"
    for r in list_recipes():
        assert f"classicnets train --recipe {r.name}" in text
