"""Benchmarks: `python -m bench.NAME [--quick]`, each printing one `BENCH NAME key=value ...` line."""
