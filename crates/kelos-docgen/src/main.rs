//! kelos-docgen OUT_DIR: writes the shell completions of git-credential-kelos
//! into `OUT_DIR/completions/` (bash, zsh, fish) and the man pages of
//! git-credential-kelos (one for the command, one per subcommand) and
//! kelos-gh into `OUT_DIR/man/man1/`. `scripts/release.sh` runs it into
//! `dist/`.

use std::path::PathBuf;

use anyhow::{bail, Result};

fn main() -> Result<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [out] = args.as_slice() else {
        bail!("usage: kelos-docgen OUT_DIR (writes OUT_DIR/completions and OUT_DIR/man/man1)");
    };
    for path in kelos_docgen::write_all(out)? {
        println!("{}", path.display());
    }
    Ok(())
}
