//! Package URLs (purl) for the packages of a package database, encoded as the purl
//! specification says: the type and the qualifier keys are plain lower-case ASCII; the
//! namespace, name, version and qualifier values are percent-encoded, every byte
//! outside `A-Z a-z 0-9 . - _ ~` escaped, except `:`, which the specification says is
//! never encoded. So a Debian epoch stays as it is and a `+` becomes `%2B`:
//! `pkg:deb/debian/attr@1:2.4.47-2%2Bb1?arch=amd64`, as the spec's own deb example.
//! Qualifiers are sorted by key, and empty ones left out, for one canonical form.

/// Builds a purl. `namespace` and `name` are lower-cased (both deb and apk say they are
/// not case-sensitive and must be lower case).
pub(crate) fn purl(kind: &str, namespace: &str, name: &str, version: &str, qualifiers: &[(&str, &str)]) -> String {
    let mut out = format!("pkg:{kind}/{}/{}", encode(&namespace.to_ascii_lowercase()), encode(&name.to_ascii_lowercase()));
    if !version.is_empty() {
        out.push('@');
        out.push_str(&encode(version));
    }
    let mut qs: Vec<&(&str, &str)> = qualifiers.iter().filter(|(_, v)| !v.is_empty()).collect();
    qs.sort();
    for (i, (k, v)) in qs.into_iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(&k.to_ascii_lowercase());
        out.push('=');
        out.push_str(&encode(v));
    }
    out
}

/// Percent-encodes one purl component.
pub(crate) fn encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_the_purl_spec_says() {
        type Case<'a> = (&'a str, &'a str, &'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("deb", "debian", "curl", "7.88.1-10+deb12u5", &[("distro", "debian-12"), ("arch", "amd64")], "pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12"),
            // The spec's examples: an epoch stays literal, `+` is escaped.
            ("deb", "debian", "attr", "1:2.4.47-2+b1", &[("arch", "amd64")], "pkg:deb/debian/attr@1:2.4.47-2%2Bb1?arch=amd64"),
            ("deb", "debian", "base-files", "12.4+deb12u5", &[("arch", ""), ("distro", "")], "pkg:deb/debian/base-files@12.4%2Bdeb12u5"),
            ("deb", "Debian", "libstdc++6", "12.2.0-14", &[("arch", "amd64")], "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?arch=amd64"),
            ("apk", "alpine", "musl", "1.2.4_git20230717-r4", &[("arch", "x86_64"), ("distro", "alpine-3.19")], "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19"),
            ("apk", "alpine", "a b/c?d", "1 é", &[], "pkg:apk/alpine/a%20b%2Fc%3Fd@1%20%C3%A9"),
        ];
        for (kind, ns, name, version, qs, want) in cases {
            assert_eq!(purl(kind, ns, name, version, qs), *want);
        }
    }
}
