#!/usr/bin/env bash
# Builds the signed Debian repository the package tests install from, as a Debian
# mirror lays one out: real packages that `apt-get download` fetches (curl and the whole
# closure of its dependencies; nano, whose postinst registers an alternative;
# ca-certificates, whose postinst does more than ocicompose does for it), indexed by
# apt-ftparchive, its InRelease and Release.gpg signed with a test key made here.
#
#   tests/aptrepo/build.sh DIR      (nothing is done when DIR already holds a repository)
#
# DIR/keys/archive.gpg is the keyring that verifies it; DIR/PACKAGES lists what is in it.
set -euo pipefail
out=${1:?usage: build.sh DIR}
[ -s "$out/dists/bookworm/InRelease" ] && exit 0
for t in apt-get apt-cache apt-ftparchive gpg dpkg xz gzip; do
  command -v "$t" >/dev/null || { echo "build.sh: missing $t (apt-get install apt-utils gnupg xz-utils)" >&2; exit 1; }
done
roots="curl nano ca-certificates"
work=$(mktemp -d "${TMPDIR:-/tmp}/aptrepo.XXXXXX")
trap 'rm -rf "$work"' EXIT

names=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
          --no-replaces --no-enhances $roots | grep -v '^[ <]' | sort -u)
mkdir -p "$work/pool/main"
if ! (cd "$work/pool/main" && apt-get download -q $names >/dev/null 2>&1); then
  # A fresh machine may have no package lists yet.
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  (cd "$work/pool/main" && apt-get download -q $names >/dev/null)
fi
# apt-get download names a file after the version with its epoch (`1%3a2.66-4`); the
# archive's pool does not.
for f in "$work"/pool/main/*%3a*.deb; do
  [ -e "$f" ] || continue
  mv "$f" "$(echo "$f" | sed 's/_[0-9]*%3a/_/')"
done

arch=$(dpkg --print-architecture)
dist="$work/dists/bookworm"
mkdir -p "$dist/main/binary-$arch"
(cd "$work" && apt-ftparchive packages pool > "dists/bookworm/main/binary-$arch/Packages")
xz -k "$dist/main/binary-$arch/Packages"
gzip -k -n "$dist/main/binary-$arch/Packages"
apt-ftparchive -o APT::FTPArchive::Release::Origin=ocicompose-test \
  -o APT::FTPArchive::Release::Suite=bookworm -o APT::FTPArchive::Release::Codename=bookworm \
  -o APT::FTPArchive::Release::Architectures="$arch" -o APT::FTPArchive::Release::Components=main \
  release "$dist" > "$work/Release"
mv "$work/Release" "$dist/Release"

export GNUPGHOME="$work/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch -q --passphrase '' --quick-gen-key 'ocicompose test archive <archive@example.invalid>' rsa3072 sign never
gpg --batch -q --yes --clearsign -o "$dist/InRelease" "$dist/Release"
gpg --batch -q --yes -abs -o "$dist/Release.gpg" "$dist/Release"
mkdir -p "$work/keys"
gpg --batch -q --export > "$work/keys/archive.gpg"
rm -rf "$GNUPGHOME"
(cd "$work/pool/main" && ls *.deb) > "$work/PACKAGES"

mkdir -p "$(dirname "$out")"
rm -rf "$out"
cp -r "$work" "$out"
echo "build.sh: $(wc -l < "$out/PACKAGES") packages in $out" >&2
