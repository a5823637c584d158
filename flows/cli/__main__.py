"""`python -m flows.cli` = `riskgate`."""

from flows.cli import main

main()
