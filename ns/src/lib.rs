//! cove-ns
