//! Options that change how a compose runs but not what it produces.

use std::sync::Arc;

/// The stages a compose reports progress for, in order, except that the base's and the
/// artifacts' layers are read at the same time, so their reports interleave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Stage {
    /// Reading indexes, manifests and configs. `total` is the number of inputs.
    Resolve = 1,
    /// Reading and verifying the base's layers. `total` is the number of layers.
    ReadBase = 2,
    /// Reading and verifying the artifacts' layers. `total` is the number of layers.
    ReadArtifacts = 3,
    /// Writing the new layer(s). `total` is the number of entries.
    WriteLayer = 4,
    /// Carrying the base's blobs over. `total` is the number of blobs.
    CopyBlobs = 5,
    /// Writing config, manifest and index. `total` is 1.
    Commit = 6,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 6] = [Stage::Resolve, Stage::ReadBase, Stage::ReadArtifacts, Stage::WriteLayer, Stage::CopyBlobs, Stage::Commit];

    /// A stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Resolve => "resolve",
            Stage::ReadBase => "read_base",
            Stage::ReadArtifacts => "read_artifacts",
            Stage::WriteLayer => "write_layer",
            Stage::CopyBlobs => "copy_blobs",
            Stage::Commit => "commit",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Called with `(stage, done, total)`; returning `false` cancels the compose, which then
/// fails with [`crate::Error::Cancelled`] and leaves the output as it was.
///
/// It may be called from several threads, so it must be `Send + Sync`.
pub type ProgressFn = Arc<dyn Fn(Stage, u64, u64) -> bool + Send + Sync>;

/// How to run a compose.
#[derive(Clone, Default)]
pub struct ComposeOptions {
    /// Worker threads; `None` uses every core, `Some(1)` runs serially. The result is
    /// the same for any value.
    pub jobs: Option<usize>,
    /// Overrides the spec's `strict` when set.
    pub strict: Option<bool>,
    /// Progress and cancellation hook.
    pub progress: Option<ProgressFn>,
    /// Timestamp (seconds since the epoch) for `created` and generated entries. `None`
    /// reads `SOURCE_DATE_EPOCH`, and without it uses the base's `created`.
    pub source_date_epoch: Option<i64>,
}

impl std::fmt::Debug for ComposeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComposeOptions")
            .field("jobs", &self.jobs)
            .field("strict", &self.strict)
            .field("progress", &self.progress.as_ref().map(|_| "<fn>"))
            .field("source_date_epoch", &self.source_date_epoch)
            .finish()
    }
}
