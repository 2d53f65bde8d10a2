#!/usr/bin/env python3
"""The agent images' Dockerfiles, read by buildkit's own parser.

The PyPI package `dockerfile` wraps buildkit's Dockerfile parser (the Go code Docker
uses). These tests check what images/README.md promises:

- images/example-agent/Dockerfile copies the three binaries from the helpers image, kelos-gh
  as /usr/local/bin/gh and kelos-glab as /usr/local/bin/glab, and then runs images/install.sh;
  in four consecutive instructions. git, gh and glab come from the distribution.
- images/helpers/Dockerfile is FROM scratch for each TARGETARCH (amd64, arm64) and holds
  exactly /git-credential-kelos, /kelos-gh and /kelos-glab from scripts/release.sh's target/dist/<target>/ (dist/<target>/ in image.sh's context),
  /kelos-env.sh, /install.sh and /LICENSE, with the OCI labels from build arguments. (tests/tests/images.rs builds it
  with buildah and inspects the image itself.)

Run:  python3 tests/images/test_dockerfiles.py -v
(cargo test -p kelos-e2e --test images runs it too.)
"""

import fnmatch
import os
import re
import shlex
import sys
import unittest
from pathlib import Path

try:
    import dockerfile  # buildkit's parser
except ImportError:
    sys.stderr.write(
        "the Python package `dockerfile` (buildkit's Dockerfile parser) is missing: "
        "install it with `python3 -m pip install dockerfile`\n"
    )
    sys.exit(1)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "images/example-agent/Dockerfile"
HELPERS = ROOT / "images/helpers/Dockerfile"
INSTALL_SCRIPT = "images/install.sh"

# Instructions Docker knows (buildkit's parser accepts any word; the builder does not).
KNOWN = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
    "WORKDIR",
}


class Stage:
    def __init__(self, base, name, platform, line):
        self.base = base
        self.name = name
        self.platform = platform
        self.line = line
        self.commands = []

    def __repr__(self):
        return f"Stage({self.base!r} AS {self.name!r})"


def expand(value, args):
    """Expands $VAR and ${VAR} with the global ARG defaults."""
    return re.sub(
        r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?",
        lambda m: args.get(m.group(1), m.group(0)),
        value,
    )


def parse(path, build_args=None):
    """(global ARG defaults, stages) of a Dockerfile, through buildkit's parser; `build_args`
    are given values (like --build-arg, or the platform's TARGETARCH), over the defaults."""
    commands = dockerfile.parse_file(str(path))
    args, stages = {}, []
    build_args = build_args or {}
    for c in commands:
        if c.cmd == "FROM":
            value = list(c.value)
            name = None
            if len(value) == 3 and value[1].upper() == "AS":
                name = value[2]
            elif len(value) != 1:
                raise AssertionError(f"{path}:{c.start_line}: odd FROM {c.original!r}")
            platform = flag(c, "platform")
            stages.append(Stage(expand(value[0], args), name, platform, c.start_line))
        elif not stages:
            if c.cmd != "ARG":
                raise AssertionError(f"{path}:{c.start_line}: {c.cmd} before the first FROM")
            for a in c.value:
                k, _, v = a.partition("=")
                args[k] = build_args.get(k, v.strip('"'))
        else:
            stages[-1].commands.append(c)
    return args, stages, commands


def flag(command, name):
    """The value of --name=VALUE on a command, or None."""
    for f in command.flags:
        if f.startswith(f"--{name}="):
            return f.split("=", 1)[1]
    return None


def mount_options(command):
    """Each --mount of a RUN as a dict of its options."""
    mounts = []
    for f in command.flags:
        if f.startswith("--mount="):
            opts = {}
            for kv in f[len("--mount="):].split(","):
                k, _, v = kv.partition("=")
                opts[k] = v
            mounts.append(opts)
    return mounts


def copied_files(command):
    """(source, destination file) pairs of a COPY, directories resolved like Docker does."""
    *sources, dest = list(command.value)
    into_dir = dest.endswith("/") or len(sources) > 1
    out = []
    for s in sources:
        d = dest.rstrip("/") + "/" + os.path.basename(s) if into_dir else dest
        out.append((s, os.path.normpath(d)))
    return out


def run_text(command):
    """A RUN's shell command line."""
    if command.json:
        return " ".join(shlex.quote(v) for v in command.value)
    return " ".join(command.value)


def simple_commands(shell):
    """The words of each simple command of a shell line (split on && || ; |)."""
    out = []
    for part in re.split(r"&&|\|\||;|\|", shell):
        try:
            words = shlex.split(part)
        except ValueError:
            words = part.split()
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            words = words[1:]  # VAR=value prefixes
        if words:
            out.append(words)
    return out


def dockerignore_excludes(ignore_file, path):
    """Whether a .dockerignore excludes `path` (last matching pattern wins; ! re-includes)."""
    excluded = False
    if not ignore_file.exists():
        return False
    for line in ignore_file.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        pattern = pattern.strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatchcase(p, pattern) for p in prefixes) or (
            "**" in pattern and fnmatch.fnmatchcase(path, pattern.replace("**/", "*"))
        ):
            excluded = not negate
    return excluded


class CommonChecks:
    path = None

    def setUp(self):
        self.args, self.stages, self.commands = parse(self.path)

    def test_only_known_instructions(self):
        for c in self.commands:
            self.assertIn(c.cmd, KNOWN, f"{self.path}:{c.start_line}: unknown {c.cmd}")

    def test_copy_from_names_an_earlier_stage(self):
        names = []
        for s in self.stages:
            for c in s.commands:
                src = flag(c, "from") if c.cmd in ("COPY", "RUN") else None
                for m in mount_options(c) if c.cmd == "RUN" else []:
                    if "from" in m:
                        self.assertIn(m["from"], names, f"line {c.start_line}: unknown stage")
                if src is not None:
                    self.assertIn(src, names, f"line {c.start_line}: --from={src} is no earlier stage")
            if s.name:
                names.append(s.name)


class ExampleAgentImage(CommonChecks, unittest.TestCase):
    path = EXAMPLE

    def final(self):
        return self.stages[-1]

    def helpers_stage_name(self):
        for s in self.stages[:-1]:
            if "kelos-credential-helpers" in s.base:
                return s.name
        self.fail(f"no stage FROM the helpers image in {[s.base for s in self.stages]}")

    def test_helpers_image_is_a_build_arg_defaulting_to_the_published_image(self):
        self.assertIn("HELPERS_IMAGE", self.args)
        # The tag the release of this workspace version pushes (vX.Y.Z; X.Y and latest too).
        cargo = (ROOT / "Cargo.toml").read_text()
        version = re.search(r'^version = "([^"]+)"', cargo, re.M).group(1)
        self.assertEqual(
            self.args["HELPERS_IMAGE"],
            f"ghcr.io/kelos-dev/kelos-credential-helpers:v{version}",
        )
        self.assertEqual(self.helpers_stage_name(), "helpers")

    def test_base_is_ubuntu_24_04_like_kelos_reference_images(self):
        self.assertEqual(self.final().base, "ubuntu:24.04")

    def test_git_gh_and_glab_come_from_the_distribution(self):
        installed = set()
        for c in self.final().commands:
            if c.cmd == "RUN":
                for words in simple_commands(run_text(c)):
                    if words[:1] == ["apt-get"] and "install" in words:
                        installed.update(w for w in words if not w.startswith("-"))
        self.assertTrue({"git", "gh", "glab"} <= installed, f"apt-get install of {installed}")

    def test_unprivileged_user_61100(self):
        created = False
        for c in self.final().commands:
            if c.cmd == "RUN":
                for words in simple_commands(run_text(c)):
                    if words[:1] == ["useradd"]:
                        for i, w in enumerate(words):
                            if w in ("-u", "--uid") and words[i + 1] == "61100":
                                created = True
                            if w == "--uid=61100":
                                created = True
        self.assertTrue(created, "no `useradd --uid 61100`")
        users = [c for c in self.final().commands if c.cmd == "USER"]
        self.assertTrue(users, "the image runs as root")
        self.assertEqual(users[-1].value[0].split(":")[0], "61100")

    def installed_files(self):
        """{destination: (command index, source)} of the COPYs from the helpers stage."""
        helpers = self.helpers_stage_name()
        out = {}
        for i, c in enumerate(self.final().commands):
            if c.cmd == "COPY" and flag(c, "from") == helpers:
                for src, dest in copied_files(c):
                    out[dest] = (i, src)
            elif c.cmd == "ADD":
                self.fail(f"line {c.start_line}: ADD (use COPY --from=helpers)")
        return out

    def test_copies_the_binaries_and_installs_the_wrappers_as_gh_and_glab(self):
        files = self.installed_files()
        self.assertEqual(
            {d: s for d, (_, s) in files.items()},
            {
                "/usr/local/bin/git-credential-kelos": "/git-credential-kelos",
                "/usr/local/bin/gh": "/kelos-gh",
                "/usr/local/bin/glab": "/kelos-glab",
            },
        )

    def install_run(self):
        """(index, command) of the RUN that runs images/install.sh."""
        final = self.final().commands
        copied_scripts = {}
        for i, c in enumerate(final):
            if c.cmd == "COPY" and flag(c, "from") is None:
                for src, dest in copied_files(c):
                    if os.path.normpath(src) == INSTALL_SCRIPT:
                        copied_scripts[dest] = i
        for i, c in enumerate(final):
            if c.cmd != "RUN":
                continue
            paths = dict(copied_scripts)
            for m in mount_options(c):
                if m.get("type") == "bind" and "from" not in m:
                    source = m.get("source", m.get("src", ""))
                    if os.path.normpath(source) == INSTALL_SCRIPT:
                        paths[m.get("target", m.get("dst", m.get("destination")))] = i
            for words in simple_commands(run_text(c)):
                if words[0] in ("sh", "bash", "/bin/sh", "/bin/bash"):
                    words = words[1:]
                if words and words[0] in paths:
                    return i, c
        self.fail("no RUN runs images/install.sh")

    def test_runs_the_install_script_after_the_copies(self):
        i, c = self.install_run()
        copies = [idx for idx, _ in self.installed_files().values()]
        self.assertTrue(all(idx < i for idx in copies), f"line {c.start_line}: install.sh before the COPYs")
        # Nothing after it replaces the installed files or runs as root again before USER.
        for later in self.final().commands[i + 1:]:
            self.assertNotIn(later.cmd, ("COPY", "ADD"), f"line {later.start_line}")

    def test_the_helpers_are_four_consecutive_instructions(self):
        i, _ = self.install_run()
        copies = sorted(idx for idx, _ in self.installed_files().values())
        self.assertEqual(copies + [i], [i - 3, i - 2, i - 1, i], "the helpers' four lines")

    def test_install_script_is_in_the_build_context(self):
        self.assertTrue((ROOT / INSTALL_SCRIPT).is_file())
        ignore = EXAMPLE.with_name("Dockerfile.dockerignore")
        self.assertFalse(dockerignore_excludes(ignore, INSTALL_SCRIPT), f"{ignore} excludes it")

    def test_install_script_configures_and_checks(self):
        text = (ROOT / INSTALL_SCRIPT).read_text()
        self.assertTrue(text.startswith("#!/bin/sh\n"), "install.sh must be POSIX sh")
        self.assertIn("configure --system", text)
        self.assertIn("doctor --no-token-ok", text)
        self.assertIn('"$BIN/gh"', text)


TARGETS = {"amd64": "x86_64-unknown-linux-musl", "arm64": "aarch64-unknown-linux-musl"}


class HelpersImage(CommonChecks, unittest.TestCase):
    path = HELPERS

    def chain(self, arch):
        """The stages the image for TARGETARCH=arch is made of, from its scratch base to the
        final stage."""
        _, stages, _ = parse(self.path, {"TARGETARCH": arch})
        by_name = {s.name: s for s in stages if s.name}
        chain = [stages[-1]]
        while chain[0].base != "scratch":
            base = chain[0].base
            self.assertIn(base, by_name, f"TARGETARCH={arch}: FROM {base} is no stage of the file")
            chain.insert(0, by_name[base])
        return chain

    def test_targetarch_is_declared_for_the_from_lines(self):
        self.assertIn("TARGETARCH", self.args, "ARG TARGETARCH before the first FROM")

    def test_each_platform_is_scratch_with_only_its_binaries_and_the_license(self):
        for arch, target in TARGETS.items():
            files = {}
            for stage in self.chain(arch):
                for c in stage.commands:
                    self.assertIn(
                        c.cmd,
                        ("COPY", "LABEL", "ENTRYPOINT", "CMD", "ARG"),
                        f"line {c.start_line}: {c.cmd} (the image runs nothing: no emulation)",
                    )
                    if c.cmd == "COPY":
                        self.assertIsNone(flag(c, "from"), f"line {c.start_line}: COPY --from")
                        for src, dest in copied_files(c):
                            files[dest] = src
            self.assertEqual(
                files,
                {
                    "/git-credential-kelos": f"dist/{target}/git-credential-kelos",
                    "/kelos-gh": f"dist/{target}/kelos-gh",
                    "/kelos-glab": f"dist/{target}/kelos-glab",
                    "/LICENSE": "LICENSE",
                    "/kelos-env.sh": "images/kelos-env.sh",
                    "/install.sh": "images/install.sh",
                },
                arch,
            )

    def test_release_sh_makes_what_the_image_copies(self):
        # release.sh stages the binaries as target/dist/<target>/<binary>; image.sh gives
        # buildah a context holding them as dist/<target>/, the paths the Dockerfile copies.
        text = (ROOT / "scripts/release.sh").read_text()
        for target in TARGETS.values():
            self.assertIn(target, text)
        self.assertIn('"$stage/$target/$b"', text)
        image_sh = (ROOT / "scripts/image.sh").read_text()
        self.assertIn('"$stage/${target_of[$arch]}/git-credential-kelos" "$stage/${target_of[$arch]}/kelos-gh" "$stage/${target_of[$arch]}/kelos-glab" "$context/dist/${target_of[$arch]}/"', image_sh)
        self.assertIn('echo "$PWD/target/dist"', (ROOT / "scripts/lib.sh").read_text())

    def test_oci_labels_come_from_build_arguments(self):
        final = self.stages[-1]
        declared = {a.split("=")[0] for c in final.commands if c.cmd == "ARG" for a in c.value}
        self.assertTrue({"VERSION", "REVISION", "SOURCE"} <= declared, declared)
        labels = {}
        for c in final.commands:
            if c.cmd == "LABEL":
                values = list(c.value)
                for k, v in zip(values[::2], values[1::2]):
                    labels[k] = v.strip('"')
        self.assertEqual(labels.get("org.opencontainers.image.version"), "${VERSION}")
        self.assertEqual(labels.get("org.opencontainers.image.revision"), "${REVISION}")
        self.assertEqual(labels.get("org.opencontainers.image.source"), "${SOURCE}")
        self.assertEqual(labels.get("org.opencontainers.image.licenses"), "MIT")

    def test_entrypoint_is_a_file_of_the_image(self):
        final = self.stages[-1]
        for c in final.commands:
            if c.cmd == "ENTRYPOINT":
                self.assertTrue(c.json, "ENTRYPOINT in exec form (scratch has no shell)")
                self.assertIn(c.value[0], ("/git-credential-kelos", "/kelos-gh"))
            if c.cmd == "CMD":
                self.assertTrue(c.json, "CMD in exec form (scratch has no shell)")

    def test_build_context_is_the_release_binaries_and_the_license(self):
        ignore = HELPERS.with_name("Dockerfile.dockerignore")
        for path in ("target/release/x", "dist/SHA256SUMS", ".git/config", "Cargo.toml", "crates/kelos-token/src/lib.rs"):
            self.assertTrue(dockerignore_excludes(ignore, path), path)
        for target in TARGETS.values():
            for name in ("git-credential-kelos", "kelos-gh", "kelos-glab"):
                self.assertFalse(dockerignore_excludes(ignore, f"dist/{target}/{name}"), name)
        self.assertFalse(dockerignore_excludes(ignore, "LICENSE"))
        for path in ("images/kelos-env.sh", "images/install.sh"):
            self.assertFalse(dockerignore_excludes(ignore, path), path)



class ReadmeLines(unittest.TestCase):
    """The lines images/README.md gives image authors (its first dockerfile block), read by
    the same parser: they copy from this version's released helpers image files that image
    holds, put the wrapper first as gh and the snippet where BASH_ENV names it, and run
    configure and doctor. The root README shows the same lines."""

    def setUp(self):
        text = (ROOT / "images/README.md").read_text()
        m = re.search(r"^```dockerfile\n(.*?)^```", text, re.S | re.M)
        self.assertIsNotNone(m, "no dockerfile block in images/README.md")
        self.lines = m.group(1)
        self.commands = dockerfile.parse_string("FROM ubuntu:24.04\n" + self.lines)[1:]

    def test_copies_this_versions_image_files_to_their_places(self):
        cargo = (ROOT / "Cargo.toml").read_text()
        version = re.search(r'^version = "([^"]+)"', cargo, re.M).group(1)
        _, stages, _ = parse(HELPERS, {"TARGETARCH": "amd64"})
        in_image = {
            dest
            for st in stages
            for c in st.commands
            if c.cmd == "COPY"
            for _, dest in copied_files(c)
        }
        copied = {}
        for c in self.commands:
            if c.cmd == "COPY":
                self.assertEqual(
                    flag(c, "from"), f"ghcr.io/kelos-dev/kelos-credential-helpers:v{version}"
                )
                for src, dest in copied_files(c):
                    self.assertIn(src, in_image, f"{src} is not a file of the helpers image")
                    copied[dest] = src
        self.assertEqual(
            copied,
            {
                "/usr/local/bin/git-credential-kelos": "/git-credential-kelos",
                "/usr/local/bin/gh": "/kelos-gh",
                "/etc/profile.d/kelos-env.sh": "/kelos-env.sh",
            },
        )
        env = [c for c in self.commands if c.cmd == "ENV"]
        self.assertEqual([list(c.value) for c in env], [["BASH_ENV", "/etc/profile.d/kelos-env.sh"]])

    def test_configures_and_checks(self):
        runs = [simple_commands(run_text(c)) for c in self.commands if c.cmd == "RUN"]
        self.assertEqual(
            runs,
            [[
                ["git-credential-kelos", "configure", "--system"],
                ["git-credential-kelos", "doctor", "--no-token-ok"],
            ]],
        )

    def test_the_root_readme_shows_the_same_lines(self):
        root = (ROOT / "README.md").read_text()
        for line in self.lines.splitlines():
            self.assertIn("    " + line + "\n", root)


if __name__ == "__main__":
    unittest.main()
