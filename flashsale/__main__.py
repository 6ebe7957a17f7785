"""``python -m flashsale`` runs the CLI (the stack's cluster profile starts its processes so)."""

from flashsale.cli import main

main()
