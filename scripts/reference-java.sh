#!/usr/bin/env bash
# Builds the reference Java demo (EncryptUtils from remote-unlocking-api.txt) plus
# a small command-line driver, for cross-checks and benchmarks. The demo's code
# is extracted from the reference at run time; none of it is kept in this repo.
#   scripts/reference-java.sh OUTDIR [REFERENCE_TXT]
# Then: java -cp OUTDIR RefDriver enc|dec KEY INPUT OUTPUT [enc|dec KEY INPUT OUTPUT ...]
# (several jobs per run, so one JVM start serves a whole test)
# Exit 3 (with a reason on stderr) when the reference or a JDK is missing.
set -euo pipefail
out=${1:?usage: reference-java.sh OUTDIR [REFERENCE_TXT]}
ref=${2:-$(cd "$(dirname "$0")/.." && pwd)/../shared/reference/remote-unlocking-api.txt}
[ -f "$ref" ] || { echo "reference not found: $ref" >&2; exit 3; }
command -v javac >/dev/null || { echo "no javac (install openjdk-17-jdk-headless)" >&2; exit 3; }
mkdir -p "$out"
# The class runs from "import java.io.File;" to the line "}" that closes it.
awk '/^import java\.io\.File;/{p=1} p{print} p&&/^}$/{exit}' "$ref" > "$out/EncryptUtils.java"
grep -q 'class EncryptUtils' "$out/EncryptUtils.java" || { echo "no EncryptUtils in $ref" >&2; exit 3; }
cat > "$out/RefDriver.java" <<'JAVA'
import java.io.File;
import java.io.FileInputStream;

// Drives the reference demo from the command line. The demo swallows its own
// exceptions, so success is judged by the caller comparing bytes.
public class RefDriver {
    public static void main(String[] args) throws Exception {
        for (int i = 0; i + 3 < args.length; i += 4) {
            String mode = args[i], key = args[i + 1];
            File in = new File(args[i + 2]).getAbsoluteFile();
            File out = new File(args[i + 3]).getAbsoluteFile();
            if (mode.equals("enc")) {
                out.delete();  // the demo appends
                EncryptUtils.encryptFile(key, in, out.getPath());
            } else {
                EncryptUtils.decryptFile(key, new FileInputStream(in), out);
            }
        }
    }
}
JAVA
javac -nowarn -d "$out" "$out/EncryptUtils.java" "$out/RefDriver.java" 2>"$out/javac.log" || {
  cat "$out/javac.log" >&2; exit 1; }
