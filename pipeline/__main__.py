"""`python -m pipeline` is the `journeys` command."""

from pipeline.cli import main

main()
