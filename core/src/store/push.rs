//! Pushing a composed image: blobs first (only those the target lacks, base blobs
//! mounted or streamed across), manifests next, tags last.

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

use oci_spec::image::Descriptor;

use crate::blob::LayerBlob;
use crate::digest;
use crate::error::{Error, Result};
use crate::reference::ImageRef;
use crate::report::PushStats;
use crate::registry::{push_target, Client};
use crate::sync::{into_inner, lock};

/// Blob transfers at once (each a connection of its own).
const MAX_TRANSFERS: usize = 4;

/// One platform's image to push.
pub(crate) struct PushImage<'a> {
    /// The base's layers, wherever they live.
    pub base_layers: Vec<&'a LayerBlob>,
    /// The new blobs in the compose's temporary layout: layers and config.
    pub new_blobs: Vec<Descriptor>,
    /// The manifest, in the temporary layout.
    pub manifest: Descriptor,
}

enum Job<'a> {
    Base(&'a LayerBlob),
    New(String, u64),
}

/// Pushes the images of the compose's temporary `layout` to `target`: every blob,
/// then each platform's manifest by digest, then `top` (the manifest, or the index of
/// several platforms) under each tag.
///
/// # Errors
/// [`Error::Registry`], [`Error::Auth`]; the tags are untouched unless every blob
/// and manifest went up.
pub(crate) fn push(target: &ImageRef, layout: &Path, images: &[PushImage<'_>], top: &Descriptor, tags: &[String], progress: &(dyn Fn(u64, u64) -> Result<()> + Sync)) -> Result<PushStats> {
    let ImageRef::Docker { registry, repository, tls_verify, cert_dir, .. } = target else {
        return Err(Error::Reference { reference: target.to_string(), message: "only docker:// references are pushed".into() });
    };
    // registries.conf may move the location (never to a mirror: pushes go where the
    // reference points) or mark it insecure.
    let (registry, repository, tls_verify) = push_target(registry, repository, *tls_verify)?;
    let (registry, repository) = (registry.as_str(), repository.as_str());
    let client = Client::new(registry, tls_verify, cert_dir.as_deref())?;
    let mut seen = BTreeSet::new();
    let mut jobs = Vec::new();
    for image in images {
        for l in image.base_layers.iter().copied() {
            if seen.insert(l.digest()) {
                jobs.push(Job::Base(l));
            }
        }
        for d in &image.new_blobs {
            if seen.insert(d.digest().to_string()) {
                jobs.push(Job::New(d.digest().to_string(), d.size()));
            }
        }
    }
    let stats = Mutex::new(PushStats::default());
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let total = jobs.len() as u64;
    progress(0, total)?;
    std::thread::scope(|scope| {
        for _ in 0..MAX_TRANSFERS.min(jobs.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs.len() || failed.load(Ordering::Relaxed) {
                    return;
                }
                let result = transfer(&client, repository, layout, &jobs[i], &stats).and_then(|()| progress(done.fetch_add(1, Ordering::Relaxed) + 1, total));
                if let Err(e) = result {
                    failed.store(true, Ordering::Relaxed);
                    lock(&first_error).get_or_insert(e);
                    return;
                }
            });
        }
    });
    if let Some(e) = into_inner(first_error) {
        return Err(e);
    }
    // Manifests after every blob, tags after every manifest.
    for image in images {
        if image.manifest.digest() != top.digest() {
            let digest = image.manifest.digest().to_string();
            let bytes = read_local(layout, &digest)?;
            client.put_manifest(repository, &digest, &bytes, image.manifest.media_type().as_ref())?;
        }
    }
    let top_bytes = read_local(layout, top.digest().as_ref())?;
    for tag in tags {
        client.put_manifest(repository, tag, &top_bytes, top.media_type().as_ref())?;
    }
    Ok(into_inner(stats))
}

/// Where the new image's own blobs are: the temporary layout the compose wrote.
fn local_blob(layout: &Path, digest: &str) -> Result<std::path::PathBuf> {
    Ok(layout.join("blobs/sha256").join(digest::sha256_hex(digest, "new blob")?))
}

fn read_local(layout: &Path, digest: &str) -> Result<Vec<u8>> {
    let path = local_blob(layout, digest)?;
    std::fs::read(&path).map_err(Error::io("read", &path))
}

fn transfer(client: &Client, repository: &str, layout: &Path, job: &Job<'_>, stats: &Mutex<PushStats>) -> Result<()> {
    let (digest, size) = match job {
        Job::Base(l) => (l.digest(), l.descriptor.size()),
        Job::New(d, s) => (d.clone(), *s),
    };
    if client.blob_exists(repository, &digest)? {
        lock(stats).existing_blobs += 1;
        return Ok(());
    }
    match job {
        Job::New(..) => {
            let path = local_blob(layout, &digest)?;
            let open = || -> Result<(Box<dyn Read + Send>, u64)> {
                let file = std::fs::File::open(&path).map_err(Error::io("open", &path))?;
                Ok((Box::new(Verifying::new(file, &digest, size)), size))
            };
            client.upload(repository, &digest, size, &open, None)?;
            let mut s = lock(stats);
            s.uploaded_blobs += 1;
            s.uploaded_bytes += size;
        }
        Job::Base(l) => match &l.remote {
            Some(remote) => {
                let mut session = None;
                if remote.client.same_registry(client) {
                    match client.mount(repository, &digest, &remote.repository)? {
                        None => {
                            lock(stats).mounted_blobs += 1;
                            return Ok(());
                        }
                        Some(location) => session = Some(location),
                    }
                }
                // Registry to registry, through memory: the source's stream is hashed
                // as it goes up, and a mismatch fails the upload before it completes.
                let open = || -> Result<(Box<dyn Read + Send>, u64)> { Ok((Box::new(Verifying::new(remote.client.blob_reader(&remote.repository, &digest)?, &digest, size)), size)) };
                client.upload(repository, &digest, size, &open, session)?;
                let mut s = lock(stats);
                s.copied_blobs += 1;
                s.copied_bytes += size;
            }
            None => {
                let open = || -> Result<(Box<dyn Read + Send>, u64)> { Ok((Box::new(Verifying::new(l.location.open()?, &digest, size)), size)) };
                client.upload(repository, &digest, size, &open, None)?;
                let mut s = lock(stats);
                s.uploaded_blobs += 1;
                s.uploaded_bytes += size;
            }
        },
    }
    Ok(())
}

/// A reader that fails at its end when what went through does not match the digest
/// and size, so a corrupt source never completes an upload.
struct Verifying<R> {
    inner: R,
    hasher: Sha256,
    seen: u64,
    digest: String,
    size: u64,
}

impl<R: Read> Verifying<R> {
    fn new(inner: R, digest: &str, size: u64) -> Verifying<R> {
        Verifying { inner, hasher: Sha256::new(), seen: 0, digest: digest.to_string(), size }
    }
}

impl<R: Read> Read for Verifying<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.seen += n as u64;
        if self.seen > self.size {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("blob {} is longer than its {} bytes", self.digest, self.size)));
        }
        if n == 0 || (n > 0 && self.seen == self.size && buf.len() > n) {
            // At the end: the bytes must be the ones the digest names.
            let found = digest::format_sha256(self.hasher.clone());
            if self.seen != self.size || found != self.digest {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("blob {} hashes to {found} ({} bytes) while it streams", self.digest, self.seen)));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifying_reader_fails_on_altered_bytes() {
        let d = digest::sha256_of(b"layer bytes");
        let mut out = Vec::new();
        Verifying::new(&b"layer bytes"[..], &d, 11).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"layer bytes");
        for (bytes, size) in [(&b"layer bytez"[..], 11), (&b"layer byte"[..], 11), (&b"layer bytes!"[..], 11)] {
            let err = Verifying::new(bytes, &d, size).read_to_end(&mut Vec::new()).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{bytes:?}");
        }
    }
}
