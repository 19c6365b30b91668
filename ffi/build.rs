//! Gives the shared library a soname, so programs linked against it record
//! `libocicompose.so.<abi>` and keep working across compatible upgrades.
//!
//! The ABI number follows Cargo's semver reading: the major version, or `0.<minor>`
//! while the major is 0 (where a minor bump may break the ABI). `make -C ffi install`
//! reads the soname back from the built file, so this is the one place it is chosen.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "linux" && os != "android" && !os.ends_with("bsd") {
        return;
    }
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_else(|_| "0".into());
    let abi = if major == "0" {
        format!("0.{minor}")
    } else {
        major
    };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libocicompose.so.{abi}");
}
