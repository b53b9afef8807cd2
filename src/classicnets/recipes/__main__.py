"""`python -m classicnets.recipes > docs/recipes.md`"""
from . import markdown

print(markdown(), end="")
