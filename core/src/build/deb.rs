//! Debian packages (`.deb`) from scratch, for tests and the demo: [`DebBuilder`] writes
//! the ar archive dpkg-deb would, with `control.tar` and `data.tar` compressed as asked.
//!
//! Like [`super::LayerBuilder`] it is literal: entries go into `data.tar` in the order
//! they are added, and the raw setters write members that no dpkg-deb would (a bzip2
//! member, a wrong `debian-binary`), so that readers can be tested against them.
//!
//! # Examples
//!
//! ```
//! use ocicompose::build::deb::DebBuilder;
//!
//! let mut deb = DebBuilder::new("Package: hello\nVersion: 1.0\nArchitecture: all\nDescription: hi\n");
//! deb.dir("/usr").dir("/usr/bin").file("/usr/bin/hello", "#!/bin/sh\necho hi\n", 0o755).with_md5sums();
//! let bytes = deb.build();
//! assert!(bytes.starts_with(b"!<arch>\n"));
//! ```

use std::io::Write;

use super::layer::{Entry, LayerBuilder};

/// How a `.deb` member is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DebCompression {
    /// A plain `.tar`.
    None,
    /// `.tar.gz`.
    Gzip,
    /// `.tar.xz` (the default, as dpkg-deb's).
    #[default]
    Xz,
    /// `.tar.zst` (as Ubuntu's dpkg-deb writes them).
    Zstd,
}

impl DebCompression {
    fn suffix(self) -> &'static str {
        match self {
            DebCompression::None => "",
            DebCompression::Gzip => ".gz",
            DebCompression::Xz => ".xz",
            DebCompression::Zstd => ".zst",
        }
    }

    fn compress(self, tar: Vec<u8>) -> Vec<u8> {
        match self {
            DebCompression::None => tar,
            DebCompression::Gzip => {
                let mut e = flate2::GzBuilder::new().mtime(0).operating_system(255).write(Vec::new(), flate2::Compression::default());
                e.write_all(&tar).expect("compressing into memory cannot fail");
                e.finish().expect("compressing into memory cannot fail")
            }
            DebCompression::Xz => {
                let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
                e.write_all(&tar).expect("compressing into memory cannot fail");
                e.finish().expect("compressing into memory cannot fail")
            }
            DebCompression::Zstd => zstd::bulk::compress(&tar, 3).expect("compressing into memory cannot fail"),
        }
    }
}

/// Builds one `.deb`.
#[derive(Debug, Clone)]
pub struct DebBuilder {
    control: String,
    omit_control: bool,
    members: Vec<(String, Vec<u8>, u32)>,
    data: LayerBuilder,
    files: Vec<(String, Vec<u8>)>,
    md5sums: bool,
    control_compression: DebCompression,
    data_compression: DebCompression,
    debian_binary: String,
    raw_control: Option<(String, Vec<u8>)>,
    raw_data: Option<(String, Vec<u8>)>,
}

/// `/usr/bin/x` as data.tar names it: `./usr/bin/x`.
fn dotted(path: &str) -> String {
    format!("./{}", path.trim_start_matches('/'))
}

impl DebBuilder {
    /// A package with this `control` file and a `data.tar` holding only `./`.
    pub fn new(control: &str) -> DebBuilder {
        let mut data = LayerBuilder::new();
        data.add(Entry::dir("./"));
        DebBuilder {
            control: control.to_string(),
            omit_control: false,
            members: Vec::new(),
            data,
            files: Vec::new(),
            md5sums: false,
            control_compression: DebCompression::Xz,
            data_compression: DebCompression::Xz,
            debian_binary: "2.0\n".into(),
            raw_control: None,
            raw_data: None,
        }
    }

    /// Adds a control member (`postinst`, `conffiles`, `triggers`, ...) with its mode.
    pub fn member(&mut self, name: &str, content: impl Into<Vec<u8>>, mode: u32) -> &mut DebBuilder {
        self.members.push((name.to_string(), content.into(), mode));
        self
    }

    /// Adds a directory to `data.tar`.
    pub fn dir(&mut self, path: &str) -> &mut DebBuilder {
        self.data.add(Entry::dir(&dotted(path)));
        self
    }

    /// Adds a regular file to `data.tar`.
    pub fn file(&mut self, path: &str, content: impl Into<Vec<u8>>, mode: u32) -> &mut DebBuilder {
        let content = content.into();
        self.files.push((path.trim_start_matches('/').to_string(), content.clone()));
        self.data.add(Entry::file(&dotted(path), content).mode(mode));
        self
    }

    /// Adds a symlink to `data.tar`; `target` is written verbatim.
    pub fn symlink(&mut self, path: &str, target: &str) -> &mut DebBuilder {
        self.data.add(Entry::symlink(&dotted(path), target));
        self
    }

    /// Adds a hard link to an earlier file of `data.tar`.
    pub fn hardlink(&mut self, path: &str, target: &str) -> &mut DebBuilder {
        self.data.add(Entry::hardlink(&dotted(path), &dotted(target)));
        self
    }

    /// Adds any entry to `data.tar`, its path written as given (dpkg-deb's start `./`);
    /// it is left out of [`DebBuilder::with_md5sums`].
    pub fn entry(&mut self, entry: Entry) -> &mut DebBuilder {
        self.data.add(entry);
        self
    }

    /// Adds an `md5sums` member listing every file added with [`DebBuilder::file`], as
    /// `dh_md5sums` makes it.
    pub fn with_md5sums(&mut self) -> &mut DebBuilder {
        self.md5sums = true;
        self
    }

    /// Chooses how `control.tar` and `data.tar` are compressed (xz by default).
    pub fn compression(&mut self, control: DebCompression, data: DebCompression) -> &mut DebBuilder {
        self.control_compression = control;
        self.data_compression = data;
        self
    }

    /// Replaces the `debian-binary` member's content (`2.0\n`).
    pub fn debian_binary(&mut self, content: &str) -> &mut DebBuilder {
        self.debian_binary = content.to_string();
        self
    }

    /// Leaves the `control` file out of `control.tar`.
    pub fn omit_control(&mut self) -> &mut DebBuilder {
        self.omit_control = true;
        self
    }

    /// Writes this member, named and with these bytes, instead of the built
    /// `control.tar`.
    pub fn raw_control(&mut self, name: &str, bytes: Vec<u8>) -> &mut DebBuilder {
        self.raw_control = Some((name.to_string(), bytes));
        self
    }

    /// Writes this member, named and with these bytes, instead of the built `data.tar`.
    pub fn raw_data(&mut self, name: &str, bytes: Vec<u8>) -> &mut DebBuilder {
        self.raw_data = Some((name.to_string(), bytes));
        self
    }

    /// The `.deb`'s bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut control = LayerBuilder::new();
        control.add(Entry::dir("./"));
        if !self.omit_control {
            control.add(Entry::file("./control", self.control.as_bytes()));
        }
        if self.md5sums {
            let text: String = self.files.iter().map(|(p, c)| format!("{}  {p}\n", crate::md5::hex(c))).collect();
            control.add(Entry::file("./md5sums", text));
        }
        for (name, content, mode) in &self.members {
            control.add(Entry::file(&format!("./{name}"), content.clone()).mode(*mode));
        }
        let control = match &self.raw_control {
            Some(raw) => raw.clone(),
            None => (format!("control.tar{}", self.control_compression.suffix()), self.control_compression.compress(control.tar_bytes())),
        };
        let data = match &self.raw_data {
            Some(raw) => raw.clone(),
            None => (format!("data.tar{}", self.data_compression.suffix()), self.data_compression.compress(self.data.tar_bytes())),
        };
        let mut out = b"!<arch>\n".to_vec();
        for (name, bytes) in [("debian-binary".to_string(), self.debian_binary.as_bytes().to_vec()), control, data] {
            out.extend(format!("{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", name, 0, 0, 0, 100644, bytes.len()).as_bytes());
            out.extend(&bytes);
            if bytes.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }
}
