//! The compose step: packages between the artifacts and the spec's `files`.
//! (Skeleton: being written.)
