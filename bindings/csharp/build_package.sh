#!/usr/bin/env bash
# Builds the C# binding's NuGet package with only Mono's mcs, a C compiler and
# python3 (or zip): no .NET SDK, no Bazel, no network.
#
# usage: bindings/csharp/build_package.sh [OUT_DIR]
#        (default OUT_DIR: bindings/csharp/out, git-ignored; not "build", which
#        would clash with the BUILD file on a case-insensitive file system)
#
# Writes, under OUT_DIR:
#   package/                       the package's content, as NuGet lays it out:
#     Processkit.nuspec
#     lib/netstandard2.0/Processkit.dll   (+ Processkit.xml, the API docs)
#     runtimes/linux-x64/native/libprocesskit.so
#     [Content_Types].xml, _rels/.rels    (the zip's OPC parts)
#   Processkit.VERSION.nupkg       that directory zipped (a .nupkg is a zip)
#
# The native library is built from the amalgamation (dist/amalgamation),
# SONAME libprocesskit.so.1. Processkit.dll is compiled by mcs against Mono's
# 4.x profile; .NET Core 2+/.NET 5+ load it through their mscorlib facade.
# (Processkit.csproj builds the same package with `dotnet pack`.)
#
# Environment: CC (default cc), MCS (default mcs).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
amal="$repo/dist/amalgamation"
out=${1:-"$here/out"}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cc=${CC:-cc}
mcs=${MCS:-mcs}

for tool in "$cc" "$mcs"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "build_package.sh: $tool not found (Debian: apt-get install gcc mono-mcs)" >&2
    exit 1
  fi
done
for f in processkit.c processkit.map; do
  [ -f "$amal/$f" ] || { echo "build_package.sh: $amal/$f is missing" >&2; exit 1; }
done

# The version the generated layer was made for (Native.ManifestVersion).
version=$(sed -n 's/.*const string ManifestVersion = "\([^"]*\)".*/\1/p' "$here/Native.g.cs")
[ -n "$version" ] || { echo "build_package.sh: no ManifestVersion in Native.g.cs" >&2; exit 1; }

pkg="$out/package"
nupkg="$out/Processkit.$version.nupkg"
rm -rf "$pkg" "$nupkg"
mkdir -p "$pkg/lib/netstandard2.0" "$pkg/runtimes/linux-x64/native" "$pkg/_rels"

# ---- the native library -------------------------------------------------------
"$cc" -std=c11 -O2 -shared -fPIC -fvisibility=hidden \
  -o "$pkg/runtimes/linux-x64/native/libprocesskit.so" \
  -Wl,-soname,libprocesskit.so.1 -Wl,--version-script="$amal/processkit.map" \
  "$amal/processkit.c" -pthread
echo "build_package.sh: built runtimes/linux-x64/native/libprocesskit.so (SONAME libprocesskit.so.1)"

# ---- the assembly ---------------------------------------------------------------
"$mcs" -nologo -unsafe -langversion:7.2 -optimize+ -warnaserror+ -target:library \
  -doc:"$pkg/lib/netstandard2.0/Processkit.xml" -nowarn:1591 \
  -out:"$pkg/lib/netstandard2.0/Processkit.dll" "$here/Native.g.cs" "$here/Processkit.cs" "$here/Processes.cs" "$here/Runners.cs"
echo "build_package.sh: built lib/netstandard2.0/Processkit.dll with $("$mcs" --version)"

# ---- the manifest and the zip's OPC parts ----------------------------------------
cat >"$pkg/Processkit.nuspec" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata>
    <id>Processkit</id>
    <version>$version</version>
    <authors>processkit</authors>
    <description>Kill-on-dispose process groups and run-and-capture commands for Mono and .NET on Linux x64, over the processkit C library (libprocesskit.so, included).</description>
    <tags>process subprocess cgroup kill-on-free</tags>
    <dependencies>
      <group targetFramework=".NETStandard2.0" />
    </dependencies>
  </metadata>
</package>
EOF
cat >"$pkg/[Content_Types].xml" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
  <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml" />
  <Default Extension="nuspec" ContentType="application/octet" />
  <Default Extension="dll" ContentType="application/octet" />
  <Default Extension="xml" ContentType="application/octet" />
  <Default Extension="so" ContentType="application/octet" />
</Types>
EOF
cat >"$pkg/_rels/.rels" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
  <Relationship Type="http://schemas.microsoft.com/packaging/2010/07/manifest" Target="/Processkit.nuspec" Id="R0" />
</Relationships>
EOF

# ---- the .nupkg -------------------------------------------------------------------
if command -v python3 >/dev/null 2>&1; then
  python3 - "$pkg" "$nupkg" <<'PY'
import os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            z.write(path, os.path.relpath(path, src))
PY
elif command -v zip >/dev/null 2>&1; then
  (cd "$pkg" && zip -q -X -r "$nupkg" .)
else
  echo "build_package.sh: neither python3 nor zip found, cannot write $nupkg" >&2
  exit 1
fi
echo "build_package.sh: wrote $nupkg"
