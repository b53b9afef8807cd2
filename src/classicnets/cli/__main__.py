"""`python -m classicnets.cli ...`, as torchrun starts each process of `train --nproc N`."""
from . import main

main()
