//! The checks of a spec that need no image: every field's form, with errors that name
//! the field as a JSON path (`artifacts[0].include[1]`), and the small parsers of
//! field values (modes, account names, ids, the config user, base64 content, tags).

use crate::error::{Error, Result};
use crate::reference::is_valid_tag_text;
use crate::codec::encoder::Encoding;
use crate::spec::{ComposeSpec, LayerCompressionSpec};

impl ComposeSpec {
    /// Checks the fields that can be checked without reading any image.
    ///
    /// # Errors
    /// [`Error::Spec`] naming the first bad field.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.base.trim().is_empty() {
            return Err(Error::spec("base", "is empty; give an image reference such as oci:DIR:TAG"));
        }
        if self.output.trim().is_empty() {
            return Err(Error::spec("output", "is empty; give oci:DIR[:TAG] or oci-archive:FILE[:TAG]"));
        }
        for (i, a) in self.artifacts.iter().enumerate() {
            if a.image.trim().is_empty() {
                return Err(Error::spec(format!("artifacts[{i}].image"), "is empty"));
            }
            if a.include.is_empty() {
                return Err(Error::spec(
                    format!("artifacts[{i}].include"),
                    "is empty: nothing is taken from an artifact by default; list the paths to take",
                ));
            }
        }
        if let Some(level) = self.compression_level {
            // `auto`'s level is checked once the base says which format it is.
            let encoding = match self.layer_compression {
                Some(LayerCompressionSpec::Gzip) | None => Some(Encoding::Gzip(level)),
                Some(LayerCompressionSpec::Zstd) => Some(Encoding::Zstd(level)),
                Some(LayerCompressionSpec::None) => {
                    return Err(Error::spec("compression_level", "is a compression level, and layer_compression is `none`; leave one of them out"));
                }
                Some(LayerCompressionSpec::Auto) => None,
            };
            if let Some(Err(e)) = encoding.map(Encoding::check) {
                return Err(Error::spec("compression_level", e.to_string()));
            }
        }
        for (field, value) in [("limits.max_layer_bytes", self.limits.max_layer_bytes), ("limits.max_layer_entries", self.limits.max_layer_entries)] {
            if value == Some(0) {
                return Err(Error::spec(field, "is 0, which no layer can meet; leave it out for the default"));
            }
        }
        self.validate_customisation()?;
        self.validate_packages()?;
        for (field, value) in [("tag", &self.tag), ("tag_suffix", &self.tag_suffix)] {
            if let Some(v) = value {
                if !is_valid_tag_text(v) {
                    return Err(Error::spec(
                        field,
                        format!("`{v}` is not a valid tag (letters, digits, `_`, `.`, `-`; at most 128; not starting with `.` or `-`)"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_packages(&self) -> Result<()> {
        let Some(p) = &self.packages else { return Ok(()) };
        for (i, r) in p.repositories.iter().enumerate() {
            let url = r.url.trim();
            if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with("file:")) {
                return Err(Error::spec(format!("packages.repositories[{i}].url"), format!("`{url}` is not an http://, https:// or file: URL")));
            }
        }
        for (i, name) in p.install.iter().enumerate() {
            let (n, version) = name.split_once('=').map_or((name.as_str(), None), |(n, v)| (n, Some(v)));
            let ok_name = !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || "+-._:".contains(c));
            if !ok_name || version.is_some_and(|v| v.is_empty() || v.chars().any(char::is_whitespace)) {
                return Err(Error::spec(format!("packages.install[{i}]"), format!("`{name}` is not a package name, or NAME=VERSION")));
            }
        }
        if !p.install.is_empty() && p.repositories.is_empty() {
            return Err(Error::spec("packages.repositories", "is empty, so the packages of `install` cannot be found; add a repository"));
        }
        for (i, f) in p.files.iter().enumerate() {
            if f.trim().is_empty() {
                return Err(Error::spec(format!("packages.files[{i}]"), "is empty"));
            }
        }
        Ok(())
    }

    fn validate_customisation(&self) -> Result<()> {
        for (i, f) in self.files.iter().enumerate() {
            let field = format!("files[{i}]");
            check_image_path(&f.path, &format!("{field}.path"))?;
            let sources = [f.content.is_some(), f.content_base64.is_some(), f.source.is_some()].iter().filter(|x| **x).count();
            if sources != 1 {
                return Err(Error::spec(&field, format!("{} needs exactly one of content, content_base64 or source", f.path)));
            }
            if let Some(m) = &f.mode {
                parse_mode(m, &format!("{field}.mode"))?;
            }
            if let Some(b) = &f.content_base64 {
                decode_base64(b).ok_or_else(|| Error::spec(format!("{field}.content_base64"), "is not valid base64"))?;
            }
            check_id(f.uid, &format!("{field}.uid"))?;
            check_id(f.gid, &format!("{field}.gid"))?;
        }
        for (i, g) in self.groups.iter().enumerate() {
            check_name(&g.name, &format!("groups[{i}].name"))?;
            check_id(g.gid, &format!("groups[{i}].gid"))?;
            for (j, m) in g.members.iter().enumerate() {
                check_name(m, &format!("groups[{i}].members[{j}]"))?;
            }
        }
        for (i, u) in self.users.iter().enumerate() {
            check_name(&u.name, &format!("users[{i}].name"))?;
            check_id(u.uid, &format!("users[{i}].uid"))?;
            check_id(u.gid, &format!("users[{i}].gid"))?;
            if let Some(h) = &u.home {
                check_image_path(h, &format!("users[{i}].home"))?;
            }
            for (field, v) in [("gecos", &u.gecos), ("shell", &u.shell)] {
                if v.as_deref().is_some_and(|v| v.contains(':') || v.contains('\n')) {
                    return Err(Error::spec(format!("users[{i}].{field}"), "may not contain `:` or a newline"));
                }
            }
        }
        if let Some(user) = &self.config.user {
            parse_user(user)?;
        }
        if let Some(w) = &self.config.working_dir {
            if !w.starts_with('/') {
                return Err(Error::spec("config.working_dir", format!("`{w}` is not absolute")));
            }
        }
        for k in self.config.env.keys() {
            if k.is_empty() || k.contains('=') {
                return Err(Error::spec("config.env", format!("`{k}` is not a variable name")));
            }
        }
        for (i, r) in self.require.iter().enumerate() {
            check_image_path(&r.path, &format!("require[{i}].path"))?;
            if let Some(m) = &r.mode {
                parse_mode(m, &format!("require[{i}].mode"))?;
            }
        }
        for (i, t) in self.tags.iter().enumerate() {
            if !is_valid_tag_text(t) {
                return Err(Error::spec(format!("tags[{i}]"), format!("`{t}` is not a valid tag")));
            }
        }
        if self.platform.is_some() && !self.platforms.is_empty() {
            return Err(Error::spec("platforms", "give either `platform` or `platforms`, not both"));
        }
        Ok(())
    }

}

/// Parses an octal mode string (`"0755"`, `"4755"`, `"644"`).
pub(crate) fn parse_mode(text: &str, field: &str) -> Result<u32> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(m) if !digits.is_empty() && m <= 0o7777 => Ok(m),
        _ => Err(Error::spec(field, format!("`{text}` is not an octal mode (such as \"0755\")"))),
    }
}

/// Checks an absolute in-image path of the spec: absolute, no `..`, not the root.
pub(crate) fn check_image_path(path: &str, field: &str) -> Result<String> {
    if !path.starts_with('/') {
        return Err(Error::spec(field, format!("`{path}` is not absolute; write it from the image root, such as /app/setup.sh")));
    }
    let key = crate::entry::normalize_path(path).map_err(|_| Error::spec(field, format!("`{path}` has a `..` component or a NUL byte")))?;
    if key.is_empty() {
        return Err(Error::spec(field, "names the image root"));
    }
    Ok(key)
}

fn check_name(name: &str, field: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !name.bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::spec(field, format!("`{name}` is not a valid account name (letters, digits, `_`, `-`, `.`; not all digits; at most 32)")))
    }
}

fn check_id(id: u32, field: &str) -> Result<()> {
    if id >= 1 << 31 {
        return Err(Error::spec(field, format!("{id} is not below 2^31 (runtimes have mapped larger ids to root)")));
    }
    Ok(())
}

/// The user and group parts of a config `User`, each a name or a number.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Id {
    Name(String),
    Number(u32),
}

fn parse_id(part: &str, user: &str) -> Result<Id> {
    if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
        match part.parse::<u64>() {
            Ok(n) if n < 1 << 31 => Ok(Id::Number(n as u32)),
            _ => Err(Error::spec("config.user", format!("`{user}`: {part} is not a uid/gid below 2^31 (runtimes have mapped larger ids to root)"))),
        }
    } else if part.is_empty() {
        Err(Error::spec("config.user", format!("`{user}` has an empty part")))
    } else {
        Ok(Id::Name(part.to_string()))
    }
}

/// Parses `user`, `uid`, `user:group` or `uid:gid`.
///
/// # Errors
/// [`Error::Spec`] for an empty part or a numeric id of 2^31 or more.
pub(crate) fn parse_user(user: &str) -> Result<(Id, Option<Id>)> {
    match user.split_once(':') {
        Some((u, g)) => Ok((parse_id(u, user)?, Some(parse_id(g, user)?))),
        None => Ok((parse_id(user, user)?, None)),
    }
}

/// Decodes standard base64 (padding optional, white space ignored).
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    let mut padding = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                padding += 1;
                continue;
            }
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        if padding > 0 {
            return None;
        }
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if padding > 2 || bits >= 6 {
        return None;
    }
    Some(out)
}
