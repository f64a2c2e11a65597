"""`python -m bench` runs the `auditbench` command."""

from bench.cli import main

main()
