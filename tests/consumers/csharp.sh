#!/usr/bin/env bash
# C#, the NuGet way, with Mono only: bindings/csharp/build_package.sh builds
# Processkit.1.2.0.nupkg (lib/netstandard2.0/Processkit.dll and
# runtimes/linux-x64/native/libprocesskit.so); a new project takes the two
# files out of the package and puts them next to its exe, as NuGet's restore
# would, compiles against the assembly with mcs -r: and runs under mono with
# no LD_LIBRARY_PATH and no Processkit.dll.config.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
new_project

tools_ok=1
for tool in mcs mono cc python3; do
  need_tool "$tool" || tools_ok=0
done
if [ "$tools_ok" != 1 ]; then
  finish
  exit 1
fi

cd "$PROJECT" || exit 1
NUPKG=$PROJECT/pkg/Processkit.1.2.0.nupkg

check "build_package.sh builds Processkit.1.2.0.nupkg" \
  scrubbed bash "$REPO/bindings/csharp/build_package.sh" "$PROJECT/pkg"
zip_has() { python3 -c 'import sys, zipfile; sys.exit(sys.argv[2] not in zipfile.ZipFile(sys.argv[1]).namelist())' "$NUPKG" "$1"; }
for entry in Processkit.nuspec lib/netstandard2.0/Processkit.dll runtimes/linux-x64/native/libprocesskit.so; do
  check "the nupkg contains $entry" zip_has "$entry"
done

# What a restore does: the package unpacked, its assembly and the native asset
# for linux-x64 copied into the app's output directory.
mkdir -p packages/processkit/1.2.0 app/bin
check "the nupkg unzips" python3 -m zipfile -e "$NUPKG" packages/processkit/1.2.0
PK=$PROJECT/packages/processkit/1.2.0
cp "$PK/lib/netstandard2.0/Processkit.dll" "$PK/runtimes/linux-x64/native/libprocesskit.so" app/bin/ 2>/dev/null

# The program every consumer runs (README: "Use it from your language").
cat > app/Program.cs <<'CS'
using System;
using ProcessKit;

class Program
{
    static void Main()
    {
        var r = new Command("sh", "-c", "sleep 300 & echo $!").Run();
        Console.Write(r.StdoutText); // the grandchild's pid: the run killed it on return
    }
}
CS

check "mcs compiles Program.cs against the package's Processkit.dll" \
  scrubbed mcs -nologo -warnaserror+ -r:"$PK/lib/netstandard2.0/Processkit.dll" -out:app/bin/app.exe app/Program.cs
check "no Processkit.dll.config and no libprocesskit.so.1 beside the exe" \
  sh -c '! ls app/bin | grep -q -e "\.config$" -e "\.so\.1$"'
[ -f app/bin/app.exe ] &&
  run_and_check_grandchild "mono app.exe (libprocesskit.so beside it, no LD_LIBRARY_PATH)" mono app/bin/app.exe

finish
