//! Python bindings (being written)
