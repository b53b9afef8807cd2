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


README = DOCS.parent / "README.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]


def test_the_model_count_written_in_the_docs_is_the_registrys():
    import re

    from classicnets.zoo import list_models
    counts = [(page.name, int(n)) for page in PAGES
              for n in re.findall(r"\b(\d+) registered (?:networks|models)\b", page.read_text())]
    assert counts, "README.md names the number of registered networks"
    assert all(n == len(list_models()) for _, n in counts), (counts, len(list_models()))


def _train_commands(text: str) -> list[str]:
    """Every `classicnets train ...` command in a page, continuation lines joined, comments dropped."""
    import re
    joined = re.sub(r"\\\n\s*", " ", text)
    return [m.split("#")[0].strip() for m in re.findall(r"classicnets train [^\n`|]*", joined)]


def test_imdb_commands_in_the_docs_are_the_recipes():
    """The course's IMDB runs are shown as their recipes, never as hand-written options that would
    differ from them (tokeniser, validation, epochs): an IMDB command names an IMDB recipe and changes
    nothing that defines the experiment."""
    import shlex

    from classicnets.recipes import get_recipe, list_recipes
    names = {r.name for r in list_recipes()}
    defining = {"--model", "--data", "--data-arg", "--arg", "--val-split", "--val-split-mode", "--validate-on",
                "--optimizer", "--lr", "--batch-size", "--schedule", "--normalize"}
    seen = 0
    for page in PAGES:
        for command in _train_commands(page.read_text()):
            words = shlex.split(command.replace("...", ""))
            recipe = words[words.index("--recipe") + 1] if "--recipe" in words else None
            if recipe is not None and not recipe.isupper():  # NAME: a placeholder
                assert recipe in names, f"{page.name}: {command}"
            if "imdb" not in command:
                continue
            seen += 1
            assert recipe is not None and get_recipe(recipe).data == "imdb", f"{page.name}: {command}"
            assert not defining & set(words), f"{page.name}: {command} overrides what defines {recipe}"
    assert seen >= 4  # the guide's IMDB runs
