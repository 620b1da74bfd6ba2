"""Tools people run beside the live pipeline: replay, report, evaluate, calibrate, simulate, feed, benchmarks."""
