//! cove-benches: criterion benchmarks of the start path (see `benches/`).
