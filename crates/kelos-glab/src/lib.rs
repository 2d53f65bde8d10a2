//! `kelos-glab`'s library: what the wrapper does before it execs the real glab.
//!
//! glab takes a host's API protocol and port from its config's host entry, not
//! from `GITLAB_HOST`; [`glab_config`] makes sure that entry exists, without
//! ever writing a token, keeping every other byte of the user's config.
//! [`host_entry`] is the entry for the instance `GITLAB_HOST` names, and
//! [`not_ensured`] the one line the wrapper says when it cannot write it.

pub mod glab_config;

pub use glab_config::{
    config_path, ensure_host_entry, ensure_host_entry_in_file, ApiProtocol, GitProtocol,
    GlabConfigError, HostEntry, Outcome, Problem,
};

use kelos_token::gitlab_host::{GitlabHost, Scheme};

/// The host entry glab needs for `instance` ([`GitlabHost::glab_entry`]:
/// glab's key, the API protocol and host, the git protocol), as the editor
/// takes it.
pub fn host_entry(instance: &GitlabHost) -> Result<HostEntry, GlabConfigError> {
    let wanted = instance.glab_entry();
    let api_protocol = match wanted.api_protocol {
        Scheme::Http => ApiProtocol::Http,
        Scheme::Https => ApiProtocol::Https,
    };
    let git_protocol = match wanted.git_protocol {
        Scheme::Http => GitProtocol::Http,
        Scheme::Https => GitProtocol::Https,
    };
    HostEntry::new(&wanted.key, api_protocol, &wanted.api_host, git_protocol)
}

/// The one line the wrapper says when `entry` could not be ensured: what
/// went wrong (the file, never its content), how to fix it, and that glab
/// runs anyway. Errors that name no fix of their own get one: make the file
/// usable, point `GLAB_CONFIG_DIR` elsewhere, or set the entry by hand.
pub fn not_ensured(error: &GlabConfigError, entry: &HostEntry) -> String {
    let host = entry.host();
    let protocol = entry.api_protocol().as_str();
    let fix = match error {
        GlabConfigError::Io { .. } | GlabConfigError::ChangedConcurrently { .. } => format!(
            "; make glab's config readable and writable by this user, set GLAB_CONFIG_DIR to \
             a directory it owns, or set the entry yourself: glab config set --host {host} \
             api_protocol {protocol} (and api_host, git_protocol)"
        ),
        _ => String::new(),
    };
    format!(
        "glab's host entry for {host} not written: {error}{fix}; running glab without it \
         (it may not call {host} over {protocol})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kelos_token::gitlab_host::parse_gitlab_host;
    use std::ffi::OsStr;
    use std::io;
    use std::path::PathBuf;

    fn instance(url: &str) -> GitlabHost {
        parse_gitlab_host("GITLAB_HOST", OsStr::new(url)).unwrap()
    }

    #[test]
    fn the_entry_is_the_instances() {
        let entry = host_entry(&instance("http://gitlab.svc:8181/gl")).unwrap();
        assert_eq!(
            entry,
            HostEntry::new(
                "gitlab.svc:8181/gl",
                ApiProtocol::Http,
                "gitlab.svc:8181/gl",
                GitProtocol::Http
            )
            .unwrap()
        );
        let https = host_entry(&instance("https://GitLab.Example.com:8443")).unwrap();
        assert_eq!(https.host(), "gitlab.example.com:8443");
        assert_eq!(https.api_protocol(), ApiProtocol::Https);
    }

    #[test]
    fn the_line_names_the_file_and_a_fix_and_says_glab_runs() {
        let entry = host_entry(&instance("http://127.0.0.1:8181")).unwrap();
        let io = GlabConfigError::Io {
            what: "read",
            path: PathBuf::from("/w/.glab-config/config.yml"),
            source: io::Error::from_raw_os_error(libc::EACCES),
        };
        let line = not_ensured(&io, &entry);
        assert!(
            line.starts_with(
                "glab's host entry for 127.0.0.1:8181 not written: cannot read \
                 /w/.glab-config/config.yml: Permission denied"
            ),
            "{line}"
        );
        assert!(line.contains("glab config set --host 127.0.0.1:8181 api_protocol http"));
        assert!(
            line.ends_with("running glab without it (it may not call 127.0.0.1:8181 over http)")
        );
        let lock = GlabConfigError::LockTimeout {
            lock: PathBuf::from("/w/.glab-config/config.yml.kelos-lock"),
        };
        let line = not_ensured(&lock, &entry);
        assert!(line.contains("remove that file"), "{line}");
        assert!(!line.contains("glab config set"), "one fix: {line}");
        for line in [not_ensured(&io, &entry), line] {
            assert!(!line.contains('\n'), "{line}");
        }
    }
}
