//! The Gregor broker.
