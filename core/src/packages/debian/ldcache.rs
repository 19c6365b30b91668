//! (Skeleton: being written.)
