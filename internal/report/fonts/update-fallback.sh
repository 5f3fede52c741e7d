#!/usr/bin/env bash
# update-fallback.sh — rebuilds DroidSansFallback.ttf.gz, the CJK fallback
# font the PDF renderer embeds, from Debian's fonts-droid-fallback package
# (Apache-2.0, see LICENSE.DroidSansFallback).
#
# The font is kept whole, not subset: it has TrueType (glyf) outlines, which
# fpdf needs, and covers the 20,902 CJK Unified Ideographs of the basic
# block, kana, all 11,172 hangul syllables and CJK punctuation (not
# Extension A, nor anything outside the BMP); gzip brings its
# 3.4 MB to 1.6 MB, under the 2 MiB a committed file may take. A subset
# would only trade coverage for size. (Debian's DroidSansFallbackFull.ttf is
# no use here: it has no hangul.)
#
# Usage (as root, or with the package already installed):
#   bash internal/report/fonts/update-fallback.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
src=/usr/share/fonts-droid-fallback/truetype/DroidSansFallback.ttf
if [[ ! -f $src ]]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends fonts-droid-fallback >&2
fi
# -n: no name or time stamp, so the same font gives the same bytes.
gzip -9 -n -c "$src" >DroidSansFallback.ttf.gz
printf 'update-fallback: %s (%s) -> DroidSansFallback.ttf.gz, %d bytes\n' "$src" \
	"$(dpkg-query -W -f '${Package} ${Version}' fonts-droid-fallback)" "$(wc -c <DroidSansFallback.ttf.gz)" >&2
