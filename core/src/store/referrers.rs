//! Writing referrers: OCI 1.1 manifests whose `subject` is an image manifest (an SBOM,
//! a provenance attestation, a signature), added beside the image in the output it was
//! written to. The image's own manifest, index entry and tags are never touched, so its
//! digest does not change because something was attached to it.
//!
//! One [`ReferrerTarget`] per output transport:
//! - `oci:DIR`: blobs staged and committed with the layout's atomic `index.json`
//!   replacement, each referrer listed there by an untagged descriptor carrying its
//!   `artifactType` (what the image spec's layout guidance and ORAS do);
//! - `oci-archive:FILE`: the same inside the archive's layout, written back as one file;
//! - `docker://`: blobs, then the manifest by digest. A registry that indexes referrers
//!   says so with the `OCI-Subject` header; one that does not (Debian's docker-registry
//!   2.8) gets the distribution spec's fallback: the image index tagged
//!   `sha256-<hex of the subject digest>` is read (404: none yet), the new descriptors
//!   added, and put back.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};

use crate::error::{Error, Result};
use crate::json::{canonical_json, parse_json};
use crate::reference::ImageRef;
use crate::registry::Client;
use crate::source::layout::LayoutDir;
use crate::source::registry::fallback_tag;
use crate::store::LayoutWriter;

/// One referrer to write: its manifest, the blobs that manifest names, and the
/// descriptor that lists it (media type, digest, size, `artifactType`, annotations).
#[derive(Debug, Clone)]
pub(crate) struct Referrer {
    /// The digest of the manifest it refers to.
    pub subject: String,
    /// Describes `manifest`; listed in `index.json` or the fallback index as it is.
    pub descriptor: Descriptor,
    /// The manifest's bytes (canonical JSON).
    pub manifest: Vec<u8>,
    /// The config and layer blobs, each with its descriptor.
    pub blobs: Vec<(Descriptor, Vec<u8>)>,
}

/// One object found by a tag rather than by its subject: a cosign signature
/// (`sha256-<hex>.sig`), which `cosign verify` looks up by that tag.
#[derive(Debug, Clone)]
pub(crate) struct Tagged {
    /// The tag it is stored under (replacing what that tag named before).
    pub tag: String,
    /// Describes `manifest` (media type, digest, size).
    pub descriptor: Descriptor,
    /// The manifest's bytes, stored as they are.
    pub manifest: Vec<u8>,
    /// The config and layer blobs, each with its descriptor.
    pub blobs: Vec<(Descriptor, Vec<u8>)>,
}

/// Somewhere referrers can be written.
pub(crate) trait ReferrerTarget {
    /// Writes every referrer (blobs, manifest) and lists it beside the others; a
    /// referrer listed already (same manifest digest) is not listed twice.
    ///
    /// # Errors
    /// As writing to the transport can fail; a layout is left as it was.
    #[cfg_attr(not(test), allow(dead_code))] // compose writes through add_with_tags
    fn add(&self, referrers: &[Referrer]) -> Result<()> {
        self.add_with_tags(referrers, &[])
    }

    /// [`ReferrerTarget::add`], and stores each tagged object under its tag, in the
    /// same write (an archive is rewritten once).
    ///
    /// # Errors
    /// As [`ReferrerTarget::add`].
    fn add_with_tags(&self, referrers: &[Referrer], tagged: &[Tagged]) -> Result<()>;
}

/// The target of an output reference: `oci:`, `oci-archive:` or `docker://`.
///
/// # Errors
/// [`Error::Unsupported`] for a transport that cannot hold referrers
/// (`docker-archive:`, `dir:`).
pub(crate) fn target(reference: &ImageRef) -> Result<Box<dyn ReferrerTarget>> {
    Ok(match reference {
        ImageRef::Oci { path, .. } => Box::new(LayoutTarget { dir: path.clone() }),
        ImageRef::OciArchive { path, .. } => Box::new(ArchiveTarget { file: path.clone() }),
        ImageRef::Docker { registry, repository, tls_verify, cert_dir, .. } => {
            // Where the image itself was pushed (registries.conf may move it).
            let (registry, repository, tls_verify) = crate::registry::push_target(registry, repository, *tls_verify)?;
            Box::new(RegistryTarget { client: Client::new(&registry, tls_verify, cert_dir.as_deref())?, repository })
        }
        other => return Err(Error::Unsupported(format!("{other} cannot hold attachments; write them to oci:DIR, oci-archive:FILE or docker://HOST/REPO"))),
    })
}

/// Adds `new` to an index's descriptors, keeping every descriptor already there and
/// its order; one whose digest is listed already (untagged) is left out. Returns
/// whether anything was added.
pub(crate) fn merge_descriptors(index: &mut ImageIndex, new: impl IntoIterator<Item = Descriptor>) -> bool {
    let mut manifests = index.manifests().clone();
    let before = manifests.len();
    for d in new {
        let listed = manifests.iter().any(|m| m.digest() == d.digest() && crate::source::store::tag_of(m).is_none());
        if !listed {
            manifests.push(d);
        }
    }
    let added = manifests.len() != before;
    index.set_manifests(manifests);
    added
}

/// An empty OCI image index (the fallback tag's first content).
fn empty_index() -> Result<ImageIndex> {
    ImageIndexBuilder::default().schema_version(2u32).media_type(MediaType::ImageIndex).manifests(Vec::new()).build().map_err(|e| Error::invalid_image("referrers index", e.to_string()))
}

/// `oci:DIR`.
struct LayoutTarget {
    dir: PathBuf,
}

impl ReferrerTarget for LayoutTarget {
    fn add_with_tags(&self, referrers: &[Referrer], tagged: &[Tagged]) -> Result<()> {
        add_to_layout(&self.dir, referrers, tagged)
    }
}

/// Stages the referrers' and tagged objects' blobs and manifests in the layout `dir`
/// (which must exist) and lists them in its `index.json`, in one commit: referrers
/// untagged, each tagged object with `org.opencontainers.image.ref.name` set to its
/// tag, in place of the entry that tag named before.
fn add_to_layout(dir: &Path, referrers: &[Referrer], tagged: &[Tagged]) -> Result<()> {
    // The image was written there: a missing layout is an error, not a new one.
    LayoutDir::open(dir)?;
    let mut writer = LayoutWriter::create(dir)?;
    for r in referrers {
        for (d, bytes) in &r.blobs {
            let written = writer.write_blob(d.media_type().clone(), bytes)?;
            check_same(d, &written)?;
        }
        let written = writer.write_blob(r.descriptor.media_type().clone(), &r.manifest)?;
        check_same(&r.descriptor, &written)?;
    }
    let mut listed = Vec::with_capacity(tagged.len());
    for t in tagged {
        for (d, bytes) in &t.blobs {
            let written = writer.write_blob(d.media_type().clone(), bytes)?;
            check_same(d, &written)?;
        }
        let written = writer.write_blob(t.descriptor.media_type().clone(), &t.manifest)?;
        check_same(&t.descriptor, &written)?;
        let mut d = t.descriptor.clone();
        let mut annotations = d.annotations().clone().unwrap_or_default();
        annotations.insert(crate::source::store::REF_NAME.to_string(), t.tag.clone());
        d.set_annotations(Some(annotations));
        listed.push(d);
    }
    writer.commit(|index| {
        merge_descriptors(index, referrers.iter().map(|r| r.descriptor.clone()));
        let mut manifests: Vec<Descriptor> = index.manifests().iter().filter(|m| !listed.iter().any(|d| crate::source::store::tag_of(m) == crate::source::store::tag_of(d))).cloned().collect();
        manifests.extend(listed);
        index.set_manifests(manifests);
    })
}

/// The blob written is the one described (a descriptor built from other bytes would
/// list a blob that is not there).
fn check_same(described: &Descriptor, written: &Descriptor) -> Result<()> {
    if described.digest() != written.digest() || described.size() != written.size() {
        return Err(Error::DigestMismatch { digest: described.digest().to_string(), location: "referrer".into(), message: format!("the bytes written hash to {} ({} bytes)", written.digest(), written.size()) });
    }
    Ok(())
}

/// `oci-archive:FILE`.
struct ArchiveTarget {
    file: PathBuf,
}

impl ReferrerTarget for ArchiveTarget {
    fn add_with_tags(&self, referrers: &[Referrer], tagged: &[Tagged]) -> Result<()> {
        if !self.file.is_file() {
            return Err(Error::NotFound { what: "archive", message: format!("{} does not exist", self.file.display()) });
        }
        let tmp = super::archive::prepare(&self.file)?;
        add_to_layout(&tmp.path().join("layout"), referrers, tagged)?;
        super::archive::finish(tmp, &self.file)
    }
}

/// `docker://HOST/REPO`.
struct RegistryTarget {
    client: Client,
    repository: String,
}

impl RegistryTarget {
    /// Uploads the blobs the registry does not have yet.
    fn upload_blobs(&self, blobs: &[(Descriptor, Vec<u8>)]) -> Result<()> {
        let (client, repository) = (&self.client, self.repository.as_str());
        for (d, bytes) in blobs {
            let digest = d.digest().to_string();
            if client.blob_exists(repository, &digest)? {
                continue;
            }
            let owned = bytes.clone();
            let open = move || -> Result<(Box<dyn Read + Send>, u64)> { Ok((Box::new(std::io::Cursor::new(owned.clone())), owned.len() as u64)) };
            client.upload(repository, &digest, bytes.len() as u64, &open, None)?;
        }
        Ok(())
    }
}

impl ReferrerTarget for RegistryTarget {
    fn add_with_tags(&self, referrers: &[Referrer], tagged: &[Tagged]) -> Result<()> {
        let (client, repository) = (&self.client, self.repository.as_str());
        for t in tagged {
            self.upload_blobs(&t.blobs)?;
            client.put_manifest(repository, &t.tag, &t.manifest, t.descriptor.media_type().as_ref())?;
        }
        // Subject digest -> descriptors the fallback index must list.
        let mut fallback: BTreeMap<&str, Vec<Descriptor>> = BTreeMap::new();
        for r in referrers {
            self.upload_blobs(&r.blobs)?;
            let indexed = client.put_referrer(repository, r.descriptor.digest().as_ref(), &r.manifest, r.descriptor.media_type().as_ref())?;
            if !indexed {
                fallback.entry(r.subject.as_str()).or_default().push(r.descriptor.clone());
            }
        }
        for (subject, descriptors) in fallback {
            let tag = fallback_tag(subject)?;
            let mut index = match client.manifest(repository, &tag) {
                Ok((bytes, _, digest)) => parse_json::<ImageIndex>(&bytes, &format!("referrers index {repository}:{tag} ({digest})"))?,
                Err(Error::NotFound { .. }) => empty_index()?,
                Err(e) => return Err(e),
            };
            if merge_descriptors(&mut index, descriptors) {
                client.put_manifest(repository, &tag, &canonical_json(&index), MediaType::ImageIndex.as_ref())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest;
    use crate::store::descriptor;

    fn referrer_desc(bytes: &[u8], artifact_type: &str) -> Descriptor {
        let mut d = descriptor(MediaType::ImageManifest, &digest::sha256_of(bytes), bytes.len() as u64).unwrap();
        d.set_artifact_type(Some(MediaType::Other(artifact_type.to_string())));
        d
    }

    #[test]
    fn merging_keeps_what_is_listed_and_adds_each_document_once() {
        let mut index = empty_index().unwrap();
        let spdx = referrer_desc(b"spdx manifest", "application/spdx+json");
        let prov = referrer_desc(b"provenance manifest", "application/vnd.in-toto+json");
        assert!(merge_descriptors(&mut index, [spdx.clone()]));
        // A second attach adds to the index; the first descriptor stays, in place.
        assert!(merge_descriptors(&mut index, [prov.clone()]));
        assert_eq!(index.manifests(), &vec![spdx.clone(), prov.clone()]);
        // The same document again: nothing added, nothing changed.
        assert!(!merge_descriptors(&mut index, [prov.clone(), spdx.clone()]));
        assert_eq!(index.manifests().len(), 2);
        // Through JSON, as a registry gives it back, the artifactType survives.
        let again: ImageIndex = parse_json(&canonical_json(&index), "index").unwrap();
        assert_eq!(again.manifests()[1].artifact_type().as_ref().map(|m| m.to_string()).as_deref(), Some("application/vnd.in-toto+json"));
    }

    #[test]
    fn a_tagged_image_with_the_same_digest_does_not_hide_a_referrer() {
        let mut index = empty_index().unwrap();
        let mut tagged = referrer_desc(b"m", "application/spdx+json");
        tagged.set_annotations(Some([(crate::source::store::REF_NAME.to_string(), "v1".to_string())].into_iter().collect()));
        index.set_manifests(vec![tagged]);
        assert!(merge_descriptors(&mut index, [referrer_desc(b"m", "application/spdx+json")]));
        assert_eq!(index.manifests().len(), 2);
    }

    #[test]
    fn the_fallback_tag_is_the_algorithm_and_hex() {
        let d = digest::sha256_of(b"image");
        assert_eq!(fallback_tag(&d).unwrap(), format!("sha256-{}", &d[7..]));
        assert!(fallback_tag("md5:abc").is_err());
        assert!(fallback_tag("not a digest").is_err());
    }

    #[test]
    fn transports_without_referrers_are_refused_by_name() {
        let err = target(&"dir:somewhere".parse().unwrap()).map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Unsupported);
        assert!(err.to_string().contains("oci-archive:"), "{err}");
    }

    /// A registry in miniature: blobs uploads succeed, manifests are kept by reference;
    /// with `api`, a manifest put is answered with `OCI-Subject` and the referrers API
    /// lists what was put, else that API is a 404 (as in Debian's docker-registry 2.8).
    /// Every request line is recorded.
    fn fake_registry(api: bool) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = log.clone();
        let mut manifests: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut listed: Vec<Descriptor> = Vec::new();
        let port = crate::registry::fake::serve(move |method, path, _, body| {
            seen.lock().unwrap().push(format!("{method} {path}"));
            let reference = path.rsplit('/').next().unwrap_or("").to_string();
            match method {
                "HEAD" => (404, vec![], vec![]),
                "POST" => (202, vec![("Location".into(), "/v2/r/blobs/uploads/1".into())], vec![]),
                "PUT" if path.contains("/blobs/uploads/") => (201, vec![], vec![]),
                "PUT" => {
                    let subject = serde_json::from_slice::<serde_json::Value>(body).ok().and_then(|v| v.pointer("/subject/digest").and_then(|d| d.as_str()).map(str::to_string));
                    let mut headers = vec![];
                    if let (true, Some(subject)) = (api, subject) {
                        let mut d = crate::store::descriptor(MediaType::ImageManifest, &digest::sha256_of(body), body.len() as u64).unwrap();
                        d.set_artifact_type(Some(MediaType::Other("application/spdx+json".into())));
                        listed.push(d);
                        headers.push(("OCI-Subject".into(), subject));
                    }
                    manifests.insert(reference, body.to_vec());
                    (201, headers, vec![])
                }
                "GET" if path.contains("/referrers/") && api => {
                    let mut index = empty_index().unwrap();
                    index.set_manifests(listed.clone());
                    (200, vec![("Content-Type".into(), "application/vnd.oci.image.index.v1+json".into())], canonical_json(&index))
                }
                "GET" => match manifests.get(&reference) {
                    Some(m) => (200, vec![("Content-Type".into(), "application/vnd.oci.image.index.v1+json".into())], m.clone()),
                    None => (404, vec![], vec![]),
                },
                _ => (405, vec![], vec![]),
            }
        });
        (port, log)
    }

    fn pushed_referrer(subject: &str) -> Referrer {
        let manifest = format!(r#"{{"schemaVersion":2,"subject":{{"digest":"{subject}"}}}}"#).into_bytes();
        Referrer { subject: subject.to_string(), descriptor: referrer_desc(&manifest, "application/spdx+json"), manifest, blobs: vec![(descriptor(MediaType::EmptyJSON, &digest::sha256_of(b"{}"), 2).unwrap(), b"{}".to_vec())] }
    }

    #[test]
    fn a_registry_with_the_referrers_api_gets_no_fallback_tag() {
        let (port, log) = fake_registry(true);
        let image = digest::sha256_of(b"image");
        let target = target(&format!("docker://127.0.0.1:{port}/r:t").parse::<ImageRef>().unwrap().with_tls(false, None)).unwrap();
        let r = pushed_referrer(&image);
        target.add(std::slice::from_ref(&r)).unwrap();
        let requests = log.lock().unwrap().clone();
        assert!(requests.contains(&format!("PUT /v2/r/manifests/{}", r.descriptor.digest())), "{requests:?}");
        assert!(requests.iter().any(|l| l.starts_with("PUT /v2/r/blobs/uploads/")), "{requests:?}");
        assert!(!requests.iter().any(|l| l.contains("sha256-")), "the fallback tag was touched: {requests:?}");
        // Listing goes through the API.
        let source = crate::source::open(&format!("docker://127.0.0.1:{port}/r:t").parse::<ImageRef>().unwrap().with_tls(false, None), "r").unwrap();
        let found = source.referrers(&image).unwrap();
        assert_eq!(found.iter().map(|d| d.digest().to_string()).collect::<Vec<_>>(), vec![r.descriptor.digest().to_string()]);
        assert!(log.lock().unwrap().contains(&format!("GET /v2/r/referrers/{image}")));
    }

    #[test]
    fn a_registry_without_it_gets_the_fallback_index_read_merged_and_put_back() {
        let (port, log) = fake_registry(false);
        let image = digest::sha256_of(b"image");
        let reference = format!("docker://127.0.0.1:{port}/r:t").parse::<ImageRef>().unwrap().with_tls(false, None);
        let target = target(&reference).unwrap();
        let tag = fallback_tag(&image).unwrap();
        let first = pushed_referrer(&image);
        target.add(std::slice::from_ref(&first)).unwrap();
        let mut second = pushed_referrer(&image);
        second.manifest.push(b' ');
        second.descriptor = referrer_desc(&second.manifest, "application/vnd.in-toto+json");
        target.add(std::slice::from_ref(&second)).unwrap();
        let requests = log.lock().unwrap().clone();
        assert_eq!(requests.iter().filter(|l| **l == format!("GET /v2/r/manifests/{tag}")).count(), 2, "{requests:?}");
        assert_eq!(requests.iter().filter(|l| **l == format!("PUT /v2/r/manifests/{tag}")).count(), 2, "{requests:?}");
        // Listed through the fallback tag: both, the first one kept.
        let source = crate::source::open(&reference, "r").unwrap();
        let found: Vec<String> = source.referrers(&image).unwrap().iter().map(|d| d.digest().to_string()).collect();
        assert_eq!(found, vec![first.descriptor.digest().to_string(), second.descriptor.digest().to_string()]);
        // The same referrer again: the index is read, and not put back.
        target.add(std::slice::from_ref(&first)).unwrap();
        assert_eq!(log.lock().unwrap().iter().filter(|l| **l == format!("PUT /v2/r/manifests/{tag}")).count(), 2);
    }

    #[test]
    fn a_missing_layout_is_not_created_for_attachments() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("none");
        let err = add_to_layout(&dir, &[], &[]).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::NotFound);
        assert!(!dir.exists());
    }
}
