//! The `host` check: the hosts answered for (`GH_HOST`, `--host`), or why
//! one given is not a host.

use super::facts::Facts;
use super::report::{check, Check, CheckId, Level};
use kelos_token::env::GH_HOST_VAR;
use kelos_token::host::HostOrigin;
use kelos_token::served::Served;
use kelos_token::GITLAB;

pub(super) fn host_check(f: &Facts, checks: &mut Vec<Check>) {
    if let Some(e) = &f.host_error {
        let fix = match e.origin {
            HostOrigin::GhHost => {
                format!("set {GH_HOST_VAR} to the host name alone (or unset it for github.com)")
            }
            HostOrigin::HostOption => "give --host the host name alone".to_owned(),
            HostOrigin::UrlVar(var) => format!(
                "set {var} to the instance's base URL, like https://gitlab.example.com \
                 (or unset it for gitlab.com)"
            ),
        };
        let fix = match &e.suggestion {
            Some(h) => format!("{fix}, like {h}"),
            None => fix,
        };
        checks.push(check(CheckId::Host, Level::Fail, e.to_string(), Some(&fix)));
    }
    if f.host_error.is_some() {
        return;
    }
    let source = if f.env.non_empty(GH_HOST_VAR).is_some() {
        "from GH_HOST"
    } else {
        "default"
    };
    let gitlab = f.hosts.iter().any(|s| matches!(s, Served::GitLab(_)));
    let hosts: Vec<String> = f
        .hosts
        .iter()
        .map(|served| match served {
            // GitHub alone: as before GitLab (the source after the list).
            Served::GitHub(h) if !gitlab => format!("{h} ({})", h.class()),
            Served::GitHub(h) => format!("{h} ({}, {source})", h.class()),
            Served::GitLab(instance) => {
                let from = GITLAB
                    .host_var(&f.env)
                    .map_or("default".to_owned(), |(name, _)| format!("from {name}"));
                format!("{instance} (GitLab, {from})")
            }
        })
        .collect();
    let message = if gitlab {
        format!("answering for {}", hosts.join(", "))
    } else {
        format!("answering for {} [{source}]", hosts.join(", "))
    };
    checks.push(check(CheckId::Host, Level::Ok, message, None));
}
