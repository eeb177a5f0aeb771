//! Benchmarks of `atexit`; see the README.
