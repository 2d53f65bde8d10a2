#!/usr/bin/env python3
"""The release's SBOM: one CycloneDX 1.5 JSON document for the shipped binaries.

    python3 scripts/sbom.py --version V --commit SHA --epoch SECONDS --target T... BINARY...

For each target, runs `cargo cyclonedx --describe binaries --no-build-deps` (the CycloneDX
project's own generator: every crate of each binary's dependency graph for that target,
from Cargo.lock and cargo metadata, with licenses and the .crate files' SHA-256) and takes
the BOM of each BINARY. The targets must give the same crates (else one document could not
describe them all: it stops and says so). The document written to stdout is those BOMs
merged the way CycloneDX's own `merge --hierarchical` does: the release as the described
component, each binary a component of it with its dependency graph, every crate once.

Reproducible: cargo-cyclonedx stamps the time of the run, a random serial number and the
checkout's absolute path; here the time is SOURCE_DATE_EPOCH's (the commit's), the serial
number is derived from the version and commit, and the checkout is /build (as the binaries
name it). cargo-cyclonedx writes its files into each workspace member's directory; they are
removed again (only those it wrote).
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import uuid

NAMESPACE = uuid.UUID("6b3c8b8e-2f7e-4c55-9d0e-6f8a1f0b6a51")


def fail(message):
    sys.exit("sbom.py: " + message)


def workspace():
    out = subprocess.run(
        ["cargo", "metadata", "--locked", "--no-deps", "--format-version", "1"],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


def bin_boms(meta, binaries, target):
    """Runs cargo-cyclonedx for `target`; returns {binary: BOM} and removes what it wrote."""
    written = []
    for pkg in meta["packages"]:
        folder = os.path.dirname(pkg["manifest_path"])
        for t in pkg["targets"]:
            if "bin" in t["kind"] or "cdylib" in t["kind"]:
                written.append((t["name"], os.path.join(folder, t["name"] + "_bin.cdx.json")))
    stale = [path for _, path in written if os.path.exists(path)]
    if stale:
        fail("files in the way of cargo-cyclonedx's output: " + ", ".join(stale))
    try:
        subprocess.run(
            ["cargo", "cyclonedx", "--format", "json", "--spec-version", "1.5",
             "--describe", "binaries", "--no-build-deps", "--target", target, "--quiet"],
            check=True,
        )
        boms = {}
        for name, path in written:
            if name in binaries:
                with open(path) as f:
                    boms[name] = json.load(f)
    finally:
        for _, path in written:
            if os.path.exists(path):
                os.remove(path)
    missing = [b for b in binaries if b not in boms]
    if missing:
        fail("cargo-cyclonedx wrote no BOM for " + ", ".join(missing))
    return boms


def crates(bom):
    """The crates a BOM lists, as (name, version, purl, hashes)."""
    return sorted(
        (c["name"], c["version"], c.get("purl", ""), json.dumps(c.get("hashes", []), sort_keys=True))
        for c in bom.get("components", [])
    )


def relocate(value, root):
    """The checkout's absolute path, as the binaries name it (/build)."""
    if isinstance(value, str):
        return value.replace("file://" + root, "file:///build")
    if isinstance(value, list):
        return [relocate(v, root) for v in value]
    if isinstance(value, dict):
        return {k: relocate(v, root) for k, v in value.items()}
    return value


def merge(args, boms_by_target, root):
    first = boms_by_target[args.target[0]]
    tool = first[args.binary[0]]["metadata"]["tools"]
    release_ref = "pkg:generic/kelos-credential-helpers@%s" % args.version
    components = {}
    dependencies = {}
    binaries = []
    for name in args.binary:
        bom = first[name]
        binary = dict(bom["metadata"]["component"])
        binaries.append(binary)
        for c in bom.get("components", []):
            components.setdefault(c["bom-ref"], c)
        for d in bom.get("dependencies", []):
            deps = dependencies.setdefault(d["ref"], set())
            deps.update(d.get("dependsOn", []))
    for b in binaries:
        dependencies.setdefault(b["bom-ref"], set())
    dependencies[release_ref] = {b["bom-ref"] for b in binaries}
    created = datetime.datetime.fromtimestamp(args.epoch, datetime.timezone.utc)
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": "urn:uuid:%s" % uuid.uuid5(NAMESPACE, "%s %s" % (args.version, args.commit)),
        "version": 1,
        "metadata": {
            "timestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": tool,
            "component": {
                "type": "application",
                "bom-ref": release_ref,
                "name": "kelos-credential-helpers",
                "version": args.version,
                "description": "git-credential-kelos and kelos-gh: static binaries for agent images",
                "licenses": [{"expression": "MIT"}],
                "purl": release_ref,
                "externalReferences": [
                    {"type": "vcs", "url": "https://github.com/kelos-dev/kelos-credential-helpers"}
                ],
                "components": sorted(binaries, key=lambda b: b["name"]),
            },
            "properties": [
                {"name": "cdx:rustc:sbom:target:triple", "value": t} for t in args.target
            ] + [{"name": "kelos:commit", "value": args.commit}],
        },
        "components": sorted(components.values(), key=lambda c: (c["name"], c["version"], c["bom-ref"])),
        "dependencies": [
            {"ref": ref, "dependsOn": sorted(deps)} for ref, deps in sorted(dependencies.items())
        ],
    }
    return relocate(doc, root)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--version", required=True)
    p.add_argument("--commit", required=True)
    p.add_argument("--epoch", required=True, type=int)
    p.add_argument("--target", required=True, action="append")
    p.add_argument("binary", nargs="+")
    args = p.parse_args()
    meta = workspace()
    root = meta["workspace_root"]
    boms_by_target = {t: bin_boms(meta, set(args.binary), t) for t in args.target}
    base = args.target[0]
    for t in args.target[1:]:
        for name in args.binary:
            if crates(boms_by_target[t][name]) != crates(boms_by_target[base][name]):
                fail("%s has other crates for %s than for %s: one SBOM cannot describe both"
                     % (name, t, base))
    json.dump(merge(args, boms_by_target, root), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
