//! (being written by the CLI/demo helper)
