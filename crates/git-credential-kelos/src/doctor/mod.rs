//! `doctor`: gathers the facts (files, git, gh) and hands them to
//! `checks::diagnose`, which decides.

mod checks;

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use crate::gitconfig::{helpers_for, parse_null_config};
use checks::{diagnose, Facts, GhFacts, GitFacts, Report};
use kelos_token::env::{GH_PATH_VAR, TOKEN_FILE_VAR};
use kelos_token::gh::{find_real_gh, stat_file, token_vars, WRAPPER_MARKER};
use kelos_token::host::gh_host;
use kelos_token::source::{read_token_file, FileProblem};
use kelos_token::{lookup, EnvSnapshot, Host};

pub fn run(env: &EnvSnapshot, hosts: Vec<Host>, no_token_ok: bool) -> Report {
    let class = hosts
        .first()
        .map(Host::class)
        .unwrap_or(kelos_token::HostClass::Dotcom);
    let file = env
        .non_empty(TOKEN_FILE_VAR)
        .map(|p| read_token_file(Path::new(p)))
        .filter(|r| !matches!(r, Err(FileProblem::NotConfigured)));
    let facts = Facts {
        now: SystemTime::now(),
        lookup: lookup(env, class),
        file,
        gh_vars: gh_vars(env),
        git: git_facts(&hosts),
        gh: gh_facts(env),
        env: env.clone(),
        hosts,
        no_token_ok,
    };
    diagnose(&facts)
}

fn gh_vars(env: &EnvSnapshot) -> Result<Vec<&'static str>, String> {
    let host = gh_host(env).map_err(|why| format!("{why}; kelos-gh sets nothing"))?;
    Ok(token_vars(host.class(), |name| env.get(name).is_some()))
}

fn git_facts(hosts: &[Host]) -> GitFacts {
    let version = Command::new("git")
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))
        .and_then(|o| {
            if o.status.success() {
                Ok(String::from_utf8_lossy(&o.stdout).trim().to_owned())
            } else {
                Err(format!("git --version failed: {}", o.status))
            }
        });
    let entries = Command::new("git")
        .args([
            "config",
            "--null",
            "--get-regexp",
            r"^credential\..*helper$",
        ])
        .output()
        .map(|o| parse_null_config(&o.stdout))
        .unwrap_or_default();
    GitFacts {
        version,
        helpers: hosts
            .iter()
            .map(|h| (h.clone(), helpers_for(&entries, h)))
            .collect(),
    }
}

fn gh_facts(env: &EnvSnapshot) -> GhFacts {
    let path_var = std::env::var_os("PATH");
    let resolved = path_var.as_deref().and_then(|p| {
        std::env::split_paths(p)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join("gh"))
            .find(|gh| stat_file(gh).is_some_and(|id| id.is_executable_regular_file))
    });
    let Some(resolved) = resolved else {
        return GhFacts::default();
    };
    let is_wrapper = is_kelos_gh(&resolved);
    let mut facts = GhFacts {
        resolved: Some(resolved.clone()),
        is_wrapper,
        ..GhFacts::default()
    };
    if !is_wrapper {
        return facts;
    }
    let wrapper = fs::metadata(&resolved)
        .map(|m| (m.dev(), m.ino()))
        .unwrap_or_default();
    let real = find_real_gh(
        env.get(GH_PATH_VAR),
        path_var.as_deref(),
        wrapper,
        stat_file,
    )
    .map(|found| found.into_path())
    .map_err(|e| e.to_string());
    if let Ok(real) = &real {
        facts.real_version = Command::new(real)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .map(str::to_owned)
            });
    }
    facts.real = Some(real);
    facts
}

/// Whether `path` is kelos-gh: it carries [`WRAPPER_MARKER`]. Only the first
/// 8 MiB are read; the wrapper is far smaller, the real gh far larger.
fn is_kelos_gh(path: &Path) -> bool {
    let mut contents = Vec::new();
    let read = fs::File::open(path).and_then(|f| f.take(8 << 20).read_to_end(&mut contents));
    read.is_ok()
        && contents
            .windows(WRAPPER_MARKER.len())
            .any(|w| w == WRAPPER_MARKER)
}
