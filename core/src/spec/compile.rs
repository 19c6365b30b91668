//! `ComposeSpec::compile`: the spec's references parsed, globs compiled, output, tags,
//! platforms and limits checked, once, as globset builds an immutable set. Every front
//! end (CLI, C, Python) holds a [`Composition`], so all of them refuse the same specs at
//! parse time with the same message.

use std::path::{Path, PathBuf};

use globset::GlobSet;

use crate::blob::Compression;
use crate::codec::encoder::Encoding;
use crate::codec::pzstd;
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::platform::PlatformWanted;
use crate::reference::{ImageRef, Selector};
use crate::select::{self, Selection};
use crate::spec::{ComposeSpec, LayerCompressionSpec};

/// A compose spec, checked and compiled: ready to compose any number of times, from any
/// thread (it is immutable).
///
/// Made by [`ComposeSpec::compile`], [`Composition::from_json`] or
/// [`Composition::from_path`]; composed by [`Composition::compose`].
#[derive(Debug, Clone)]
pub struct Composition {
    spec: ComposeSpec,
    pub(crate) base: ImageRef,
    pub(crate) artifacts: Vec<CompiledArtifact>,
    pub(crate) output: Output,
    /// The safety limits on every layer read.
    pub(crate) limits: Limits,
    /// How new layers are written.
    pub(crate) encoding: LayerEncoding,
    /// The `remove` globs, compiled (`None` when there are none).
    pub(crate) remove: Option<GlobSet>,
}

/// One artifact of the spec, compiled.
#[derive(Debug, Clone)]
pub(crate) struct CompiledArtifact {
    pub reference: ImageRef,
    pub selection: Selection,
    pub resolve_base_symlinks: bool,
}

/// How the new layers are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LayerEncoding {
    /// Always so.
    Fixed(Encoding),
    /// As the base's top layer, at this level if one was given (see [`Self::resolve`]).
    Auto { level: Option<u32> },
}

impl LayerEncoding {
    /// The encoding of a platform whose base's top layer is compressed so (`None`:
    /// a base without layers).
    ///
    /// # Errors
    /// [`Error::Spec`] on `compression_level` when `auto` gave a level that is not one of
    /// the chosen format's.
    pub(crate) fn resolve(self, top: Option<Compression>) -> Result<Encoding> {
        let level = match self {
            LayerEncoding::Fixed(e) => return Ok(e),
            LayerEncoding::Auto { level } => level,
        };
        let encoding = match top {
            Some(Compression::None) => Encoding::None,
            Some(Compression::Zstd) => Encoding::Zstd(level.unwrap_or(pzstd::DEFAULT_LEVEL)),
            Some(Compression::Gzip) | None => Encoding::Gzip(level.unwrap_or(DEFAULT_GZIP_LEVEL)),
        };
        if level.is_some() && encoding == Encoding::None {
            return Err(Error::spec("compression_level", "is a compression level, and layer_compression `auto` chose a plain tar (the base's top layer is one)"));
        }
        encoding.check().map_err(|e| Error::spec("compression_level", format!("{e} (layer_compression `auto` chose the base's top layer's format)")))?;
        Ok(encoding)
    }
}

/// gzip's level when the spec gives none, as gzip and pigz.
const DEFAULT_GZIP_LEVEL: u32 = 6;

/// Where the output goes.
#[derive(Debug, Clone)]
pub(crate) enum Output {
    Layout { dir: PathBuf, tag: Option<String> },
    Archive { file: PathBuf, tag: Option<String> },
    Registry { reference: ImageRef, tag: Option<String> },
}

impl Output {
    /// The tag the output reference names, if any.
    pub(crate) fn tag(&self) -> Option<&str> {
        match self {
            Output::Layout { tag, .. } | Output::Archive { tag, .. } | Output::Registry { tag, .. } => tag.as_deref(),
        }
    }
}

impl ComposeSpec {
    /// Checks every field that needs no image and compiles the spec: references
    /// parsed (relative paths against the spec's folder), globs compiled, output, tags
    /// and platforms checked.
    ///
    /// # Errors
    /// [`Error::Spec`] naming the field as a JSON path (`artifacts[0].include[1]`);
    /// [`Error::Reference`] for a reference that does not parse.
    pub fn compile(&self) -> Result<Composition> {
        self.validate()?;
        let parse = |text: &str| self.parse_ref(text);
        let base = parse(&self.base)?;
        if matches!(base, ImageRef::Dir { .. }) {
            return Err(Error::spec("base", "dir: is only accepted for artifacts; the base must be an image"));
        }
        let mut artifacts = Vec::new();
        for (i, a) in self.artifacts.iter().enumerate() {
            artifacts.push(CompiledArtifact {
                reference: parse(&a.image)?,
                selection: Selection::new(&a.include, &a.exclude, &format!("artifacts[{i}]"))?,
                resolve_base_symlinks: a.resolve_base_symlinks.unwrap_or(self.resolve_base_symlinks),
            });
        }
        let output = self.compile_output(&parse(&self.output)?)?;
        self.check_tags(&output)?;
        check_output_is_no_input(&output, std::iter::once(("base", &base)).chain(artifacts.iter().map(|a| ("artifacts", &a.reference))))?;
        for p in self.platform.iter().chain(&self.platforms) {
            PlatformWanted::parse(Some(p))?;
        }
        for (i, g) in self.runtime_paths.iter().enumerate() {
            select::compile(g, &format!("runtime_paths[{i}]"))?;
        }
        let remove = if self.remove.is_empty() { None } else { Some(select::compile_set(&self.remove, "remove")?) };
        let level = self.compression_level;
        let encoding = match self.layer_compression {
            Some(LayerCompressionSpec::None) => LayerEncoding::Fixed(Encoding::None),
            Some(LayerCompressionSpec::Gzip) | None => LayerEncoding::Fixed(Encoding::Gzip(level.unwrap_or(DEFAULT_GZIP_LEVEL))),
            Some(LayerCompressionSpec::Zstd) => LayerEncoding::Fixed(Encoding::Zstd(level.unwrap_or(pzstd::DEFAULT_LEVEL))),
            Some(LayerCompressionSpec::Auto) => LayerEncoding::Auto { level },
        };
        Ok(Composition { spec: self.clone(), base, artifacts, output, limits: self.limits.resolve(), encoding, remove })
    }

    /// A reference of the spec, parsed: relative paths against the spec's folder, the
    /// spec's `tls_verify` and `cert_dir` on registry references.
    pub(crate) fn parse_ref(&self, text: &str) -> Result<ImageRef> {
        let cert_dir = self.cert_dir.as_deref().map(|d| self.resolve_path(Path::new(d)));
        Ok(text.parse::<ImageRef>()?.map_path(|p| self.resolve_path(p)).with_tls(self.tls_verify.unwrap_or(true), cert_dir))
    }

    fn compile_output(&self, reference: &ImageRef) -> Result<Output> {
        let tag_of = |selector: &Selector| match selector {
            Selector::Tag(t) => Some(t.clone()),
            _ => None,
        };
        Ok(match reference {
            ImageRef::Oci { path, selector: Selector::Digest(_) } | ImageRef::OciArchive { path, selector: Selector::Digest(_) } => {
                return Err(Error::spec("output", format!("{} names a digest; an output takes oci:DIR[:TAG]", path.display())));
            }
            ImageRef::Oci { path, selector } => Output::Layout { dir: path.clone(), tag: tag_of(selector) },
            ImageRef::OciArchive { path, selector } => Output::Archive { file: path.clone(), tag: tag_of(selector) },
            ImageRef::Docker { selector: Selector::Digest(_), .. } => {
                return Err(Error::spec("output", format!("{} names a digest; an output takes docker://HOST[:PORT]/REPO[:TAG]", self.output)));
            }
            reference @ ImageRef::Docker { .. } => Output::Registry { reference: reference.clone(), tag: reference.tag().map(str::to_string) },
            other => return Err(Error::spec("output", format!("{other} cannot be written; use oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker://HOST/REPO[:TAG]"))),
        })
    }

    fn check_tags(&self, output: &Output) -> Result<()> {
        if self.tag.is_some() && self.tag_suffix.is_some() {
            return Err(Error::spec("tag_suffix", "give either `tag` or `tag_suffix`, not both"));
        }
        if let (Some(a), Some(b)) = (output.tag(), &self.tag) {
            if a != b {
                return Err(Error::spec("tag", format!("`{b}` differs from the output reference's tag `{a}`")));
            }
        }
        Ok(())
    }
}

/// Refuses an output that is one of the inputs (the same layout and tag, or the same
/// archive file): the compose would replace what it reads.
fn check_output_is_no_input<'a>(output: &Output, inputs: impl Iterator<Item = (&'static str, &'a ImageRef)>) -> Result<()> {
    let out_tag = output.tag();
    let out_path = match output {
        Output::Layout { dir, .. } => dir.as_path(),
        Output::Archive { file, .. } => file.as_path(),
        Output::Registry { .. } => Path::new(""),
    };
    for (field, input) in inputs {
        if same_file(input.path(), out_path)
            && (out_tag.is_none() || input.tag() == out_tag)
            && matches!(input, ImageRef::Oci { .. } | ImageRef::OciArchive { .. })
            && (out_tag.is_none() || matches!(input, ImageRef::OciArchive { .. }))
        {
            return Err(Error::spec("output", format!("is the same as an input ({field}); write to another folder or tag")));
        }
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

impl Composition {
    /// Parses and compiles a spec document (see [`ComposeSpec::from_json`]).
    ///
    /// # Errors
    /// As parsing and [`ComposeSpec::compile`].
    pub fn from_json(text: &str, base_dir: Option<&Path>) -> Result<Composition> {
        ComposeSpec::parse_json(text, base_dir)?.compile()
    }

    /// Reads, parses and compiles a spec file; its folder becomes the base of relative
    /// references.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read, else as [`Composition::from_json`].
    pub fn from_path(path: &Path) -> Result<Composition> {
        ComposeSpec::parse_path(path)?.compile()
    }

    /// The spec this was compiled from.
    pub fn spec(&self) -> &ComposeSpec {
        &self.spec
    }

    /// This spec with `layer_compression` and `compression_level` overridden by `text`,
    /// recompiled: what the CLI's `--compression` does, for front ends that hold a
    /// compiled spec. `text` is read by [`ComposeSpec::set_compression`].
    ///
    /// # Errors
    /// As [`ComposeSpec::set_compression`], and [`Error::Spec`] on `compression_level`
    /// for a level the format does not have.
    ///
    /// # Examples
    /// ```
    /// let c = ocicompose::Composition::from_json(r#"{"base": "oci:b", "output": "oci:o"}"#, None).unwrap();
    /// let z = c.with_compression("zstd:3").unwrap();
    /// assert_eq!(z.spec().layer_compression, Some(ocicompose::LayerCompressionSpec::Zstd));
    /// assert!(c.with_compression("zstd:25").is_err());
    /// ```
    pub fn with_compression(&self, text: &str) -> Result<Composition> {
        let mut spec = self.spec.clone();
        spec.set_compression(text)?;
        spec.compile()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_compression_overrides_the_spec_as_the_cli_flag_does() {
        let c = Composition::from_json(r#"{"base": "oci:b", "output": "oci:o", "layer_compression": "gzip", "compression_level": 9}"#, Some(Path::new("/specs"))).unwrap();
        let cases = [
            ("zstd", LayerEncoding::Fixed(Encoding::Zstd(pzstd::DEFAULT_LEVEL))),
            ("zstd:19", LayerEncoding::Fixed(Encoding::Zstd(19))),
            // The spec's level goes with the spec's format: a bare format takes its default.
            ("gzip", LayerEncoding::Fixed(Encoding::Gzip(DEFAULT_GZIP_LEVEL))),
            ("gzip:0", LayerEncoding::Fixed(Encoding::Gzip(0))),
            ("none", LayerEncoding::Fixed(Encoding::None)),
            ("auto", LayerEncoding::Auto { level: None }),
            ("auto:5", LayerEncoding::Auto { level: Some(5) }),
        ];
        for (text, want) in cases {
            let z = c.with_compression(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(z.encoding, want, "{text}");
            assert_eq!(z.spec().base_dir.as_deref(), Some(Path::new("/specs")), "{text}: the rest of the spec is kept");
            assert_eq!(c.encoding, LayerEncoding::Fixed(Encoding::Gzip(9)), "the original is unchanged");
        }
        for (text, field) in [
            ("brotli", "layer_compression"),
            ("zstd:fast", "layer_compression"),
            ("zstd:", "layer_compression"),
            (":3", "layer_compression"),
            ("", "layer_compression"),
            ("zstd:0", "compression_level"),
            ("zstd:20", "compression_level"),
            ("gzip:10", "compression_level"),
            ("none:1", "compression_level"),
        ] {
            let err = c.with_compression(text).map(|_| ()).unwrap_err();
            assert_eq!(err.field(), Some(field), "{text}: {err}");
        }
    }
}
