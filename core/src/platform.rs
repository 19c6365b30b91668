//! Platforms (`os/arch[/variant]`): the one a spec asks for, and matching it against an
//! index's entries.

use oci_spec::image::Platform;

use crate::error::{Error, Result};

/// Which platform to pick from an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlatformWanted {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
    /// True when the user named it (else it is the default, and an image with a single
    /// platform is taken whatever it is).
    pub explicit: bool,
}

impl PlatformWanted {
    /// Parses `os/arch[/variant]`; `None` gives the default `linux/amd64`.
    pub(crate) fn parse(text: Option<&str>) -> Result<PlatformWanted> {
        let Some(text) = text else {
            return Ok(PlatformWanted { os: "linux".into(), arch: "amd64".into(), variant: None, explicit: false });
        };
        let parts: Vec<&str> = text.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(Error::spec("platform", format!("`{text}` is not os/arch[/variant], e.g. linux/arm64/v8")));
        }
        Ok(PlatformWanted { os: parts[0].into(), arch: parts[1].into(), variant: parts.get(2).map(|s| s.to_string()), explicit: true })
    }

    /// True when an index entry's platform is this one (any variant when none is asked).
    pub(crate) fn matches(&self, p: &Platform) -> bool {
        p.os().to_string() == self.os
            && p.architecture().to_string() == self.arch
            && match (&self.variant, p.variant()) {
                (Some(want), Some(have)) => want == have,
                (Some(_), None) => false,
                (None, _) => true,
            }
    }
}

/// A platform as `os/arch[/variant]`.
pub(crate) fn platform_text(p: &Platform) -> String {
    match p.variant() {
        Some(v) => format!("{}/{}/{v}", p.os(), p.architecture()),
        None => format!("{}/{}", p.os(), p.architecture()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_platforms() {
        let p = PlatformWanted::parse(Some("linux/arm64/v8")).unwrap();
        assert_eq!((p.os.as_str(), p.arch.as_str(), p.variant.as_deref(), p.explicit), ("linux", "arm64", Some("v8"), true));
        assert!(!PlatformWanted::parse(None).unwrap().explicit);
        for bad in ["linux", "linux/", "a/b/c/d", "/amd64"] {
            assert_eq!(PlatformWanted::parse(Some(bad)).unwrap_err().kind(), crate::ErrorKind::Spec, "{bad}");
        }
    }
}
