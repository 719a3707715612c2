"""Benchmarks of Prosa (issue 6): see bench/README.md. Figures go to docs/PERFORMANCE.md via bench.report."""
