//! cove
