//! cove-spawn
