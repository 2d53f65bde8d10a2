//! kelos-docgen OUT_DIR: writes, from the same clap definition the binary
//! parses with, the shell completions of git-credential-kelos into
//! `OUT_DIR/completions/` (bash, zsh, fish) and its man pages into
//! `OUT_DIR/man/man1/` (one for the command, one per subcommand).
//! `scripts/release.sh` runs it into `dist/`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::CommandFactory;
use clap_complete::{generate_to, Shell};
use git_credential_kelos::cli::Cli;

fn main() -> Result<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [out] = args.as_slice() else {
        bail!("usage: kelos-docgen OUT_DIR (writes OUT_DIR/completions and OUT_DIR/man/man1)");
    };
    for path in write_all(out)? {
        println!("{}", path.display());
    }
    Ok(())
}

/// Writes every file; returns their paths.
fn write_all(out: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let completions = out.join("completions");
    fs::create_dir_all(&completions)
        .with_context(|| format!("creating {}", completions.display()))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = Cli::command();
        let name = cmd.get_name().to_owned();
        written.push(
            generate_to(shell, &mut cmd, name, &completions)
                .with_context(|| format!("writing the {shell} completions"))?,
        );
    }
    let man = out.join("man").join("man1");
    fs::create_dir_all(&man).with_context(|| format!("creating {}", man.display()))?;
    let cmd = Cli::command();
    written.push(man_page(&cmd, &man, cmd.get_name())?);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        // clap takes a `&'static str` here (without its `string` feature,
        // which would reach the shipped binary through feature unification).
        let name: &'static str =
            Box::leak(format!("{}-{}", cmd.get_name(), sub.get_name()).into_boxed_str());
        written.push(man_page(&sub.clone().name(name), &man, name)?);
    }
    Ok(written)
}

fn man_page(cmd: &clap::Command, dir: &Path, name: &str) -> Result<PathBuf> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut page)
        .with_context(|| format!("rendering the man page of {name}"))?;
    let path = dir.join(format!("{name}.1"));
    fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_completions_and_man_pages_that_name_every_command() {
        let out = std::env::temp_dir().join(format!("kelos-docgen-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&out);
        let written = write_all(&out).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.strip_prefix(&out).unwrap().display().to_string())
            .collect();
        for want in [
            "completions/git-credential-kelos.bash",
            "completions/_git-credential-kelos",
            "completions/git-credential-kelos.fish",
            "man/man1/git-credential-kelos.1",
            "man/man1/git-credential-kelos-configure.1",
            "man/man1/git-credential-kelos-doctor.1",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
        }
        let bash = fs::read_to_string(out.join("completions/git-credential-kelos.bash")).unwrap();
        for word in ["configure", "doctor", "--no-token-ok", "--system"] {
            assert!(bash.contains(word), "bash completions lack {word}");
        }
        let man = fs::read_to_string(out.join("man/man1/git-credential-kelos-doctor.1")).unwrap();
        assert!(man.contains("never shows a token"), "{man}");
        fs::remove_dir_all(&out).unwrap();
    }
}
