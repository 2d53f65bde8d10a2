//! The token's checks: `token.file`, `token.valid`, `token.mode`,
//! `token.expiry`, `token.fallback`.

use super::facts::{Facts, Reader};
use super::report::{check, Check, CheckId, Level};
use kelos_token::env::TOKEN_FILE_VAR;
use kelos_token::expiry::{describe_age, describe_expiry, unix_seconds};
use kelos_token::source::{FileProblem, FileRead, FileRejection, Layout, Origin};

pub(super) fn file_checks(f: &Facts, checks: &mut Vec<Check>) {
    let missing = if f.no_token_ok {
        Level::Warn
    } else {
        Level::Fail
    };
    let Some(path) = &f.lookup.path else {
        checks.push(check(
            CheckId::TokenFile,
            missing,
            format!("{TOKEN_FILE_VAR} is not set"),
            Some("Kelos sets it to /kelos/github-token/GITHUB_TOKEN; set it to the mounted token file"),
        ));
        return;
    };
    let shown = path.display();
    match &f.file {
        None | Some(Err(FileProblem::NotConfigured)) => {}
        Some(Err(problem)) => {
            let fix = match problem {
                FileProblem::Missing => "mount the token Secret as a volume (a directory, not subPath) and point KELOS_GITHUB_TOKEN_FILE at the file in it",
                FileProblem::NotAbsolute => "use an absolute path",
                FileProblem::NotRegular { .. } => "point KELOS_GITHUB_TOKEN_FILE at the token file itself",
                FileProblem::TooLarge { .. } => "the file must hold one token",
                _ => "make the file readable by this user",
            };
            checks.push(check(
                CheckId::TokenFile,
                missing,
                format!("token file {shown} {problem}"),
                Some(fix),
            ));
        }
        Some(Ok(read)) => {
            let age = describe_age(read.modified, f.now);
            let facts = format!(
                "{} bytes, mode {:04o}, {age}",
                read.contents.len(),
                read.mode
            );
            match &read.layout {
                Layout::AtomicWriter { generation } => checks.push(check(
                    CheckId::TokenFile,
                    Level::Ok,
                    format!(
                        "token file {shown}: kubelet Secret volume (generation {}), {facts}",
                        generation.to_string_lossy()
                    ),
                    None,
                )),
                Layout::Plain => checks.push(check(
                    CheckId::TokenFile,
                    Level::Warn,
                    format!("token file {shown}: a plain file, not a kubelet Secret volume, {facts}"),
                    Some("if this is a subPath mount, kubelet never updates it: mount the Secret as a directory"),
                )),
            }
            checks.extend(token_mode_check(read, &f.reader));
        }
    }
    match (&f.lookup.token, f.lookup.origin, &f.lookup.file_rejection) {
        (Some(token), Some(Origin::File), _) => checks.push(check(
            CheckId::TokenValid,
            Level::Ok,
            format!("token from the file: {}", token.masked()),
            None,
        )),
        (_, _, Some(FileRejection::Invalid(why))) => checks.push(check(
            CheckId::TokenValid,
            missing,
            format!("token file {shown} {why}"),
            Some("the file must hold exactly one token"),
        )),
        _ => {}
    }
}

/// `gitlab.token`, only when a GitLab setting is in play: where GitLab's
/// token comes from (its file, as `get` and kelos-glab read it), or why
/// there is none.
pub(super) fn gitlab_check(f: &Facts, checks: &mut Vec<Check>) {
    let Some(found) = &f.gitlab else {
        return;
    };
    let var = found.provider.token_file_var;
    let mount = format!(
        "mount GitLab's token Secret as a volume and point {var} at the file in it \
         (Kelos: /kelos/gitlab-token/GITLAB_TOKEN)"
    );
    let (level, message, fix) = match (&found.token, found.origin) {
        (Some(token), Some(Origin::File)) => {
            let path = found.path.as_deref().unwrap_or(std::path::Path::new(""));
            let layout = found
                .layout
                .as_ref()
                .map_or_else(String::new, |l| format!(" ({l})"));
            let expiry = match found.expires_at {
                Some(at) => format!(", {}", describe_expiry(at, unix_seconds(f.now))),
                None => String::new(),
            };
            (
                Level::Ok,
                format!(
                    "GitLab token from {}{layout}: {}{expiry}",
                    path.display(),
                    token.masked()
                ),
                None,
            )
        }
        (Some(_), _) => (
            Level::Warn,
            format!(
                "GitLab: {}; GitLab revokes a rotated token at once",
                found.explain()
            ),
            Some(mount),
        ),
        (None, _) => (
            if f.no_token_ok {
                Level::Warn
            } else {
                Level::Fail
            },
            format!("no GitLab token: {}", found.explain()),
            Some(mount),
        ),
    };
    checks.push(check(CheckId::GitlabToken, level, message, fix.as_deref()));
}

/// A token file every user may read is worth tightening, but only to a mode
/// this user can still read: kubelet writes Secret files as root, with the
/// pod's `fsGroup` as their group when it has one (Kelos sets 61100). The
/// advice follows what this process, the agent's user, has: the file's
/// group (`defaultMode: 0440` keeps it readable), its ownership (0400), or
/// neither (then only `fsGroup` with 0440 does; 0400 alone would lock the
/// agent out).
pub fn token_mode_check(read: &FileRead, reader: &Reader) -> Option<Check> {
    if read.mode & 0o004 == 0 {
        return None;
    }
    let shown = read.path.display();
    let who = format!("this user (uid {})", reader.uid);
    let (how, fix) = if reader.uid == 0 {
        (
            "doctor runs as root, which reads any file: run it as the agent's user to judge its access".to_owned(),
            "with fsGroup in the pod's securityContext (Kelos sets 61100), set defaultMode: 0440 on the Secret volume; without fsGroup keep 0644: the file is owned by root, and 0400 or 0440 would lock a non-root agent out".to_owned(),
        )
    } else if reader.uid == read.uid && read.uid != 0 {
        (
            format!("{who} owns it"),
            "set defaultMode: 0400 on the Secret volume: the owner keeps reading it".to_owned(),
        )
    } else if reader.groups.contains(&read.gid) {
        (
            format!(
                "its group (gid {}, the pod's fsGroup) is one of {who}'s groups",
                read.gid
            ),
            "set defaultMode: 0440 on the Secret volume: the group keeps reading it".to_owned(),
        )
    } else {
        (
            format!(
                "{who} reads it only through that (owner uid {}, group gid {}: the pod has no fsGroup)",
                read.uid, read.gid
            ),
            format!(
                "set fsGroup: {} in the pod's securityContext, then defaultMode: 0440 on the Secret volume; not 0400 or 0440 alone: {who} could no longer read the token",
                reader.groups.first().copied().unwrap_or(reader.uid)
            ),
        )
    };
    Some(check(
        CheckId::TokenMode,
        Level::Warn,
        format!(
            "token file {shown} is readable by every user (mode {:04o}); {how}",
            read.mode
        ),
        Some(&fix),
    ))
}

pub(super) fn expiry_check(f: &Facts, checks: &mut Vec<Check>) {
    if f.lookup.origin != Some(Origin::File) {
        return;
    }
    let now = unix_seconds(f.now);
    let c = match (f.lookup.expires_at, &f.lookup.expiry_problem) {
        (Some(at), _) if at <= now => check(
            CheckId::TokenExpiry,
            Level::Fail,
            format!("the token {}", describe_expiry(at, now)),
            Some("the token refresher is failing: check the Kelos controller's events for GitHubTokenRefreshFailed"),
        ),
        (Some(at), _) if at - now < 300 => check(
            CheckId::TokenExpiry,
            Level::Warn,
            format!("the token {}", describe_expiry(at, now)),
            Some("Kelos re-mints with 5 minutes left; if this persists, the refresher may be failing"),
        ),
        (Some(at), _) => check(
            CheckId::TokenExpiry,
            Level::Ok,
            format!("the token {}", describe_expiry(at, now)),
            None,
        ),
        (None, Some(problem)) => check(
            CheckId::TokenExpiry,
            Level::Warn,
            format!("the expiry file {problem}"),
            Some("write Unix seconds or RFC 3339 (2026-11-23T10:00:00Z) to <token file>_EXPIRES_AT"),
        ),
        (None, None) => check(
            CheckId::TokenExpiry,
            Level::Ok,
            "expiry unknown (no <token file>_EXPIRES_AT file); git cannot tell an expired token".into(),
            None,
        ),
    };
    checks.push(c);
}

pub(super) fn fallback_check(f: &Facts, checks: &mut Vec<Check>) {
    let names: Vec<&str> = f
        .lookup
        .class
        .fallback_vars()
        .iter()
        .copied()
        .filter(|n| f.env.non_empty(n).is_some())
        .collect();
    let present = if names.is_empty() {
        "none set".to_owned()
    } else {
        names.join(", ")
    };
    let missing = if f.no_token_ok {
        Level::Warn
    } else {
        Level::Fail
    };
    let c = match (&f.lookup.token, f.lookup.origin) {
        (_, Some(Origin::File)) => check(
            CheckId::TokenFallback,
            Level::Ok,
            format!("fallback variables (not used while the file is valid): {present}"),
            None,
        ),
        (Some(token), Some(Origin::Env(name))) => check(
            CheckId::TokenFallback,
            Level::Warn,
            format!(
                "using {name} ({}), frozen at start-up: it stops working when the token rotates",
                token.masked()
            ),
            Some("fix the token file so that the rotating token is used"),
        ),
        _ => check(
            CheckId::TokenFallback,
            missing,
            format!("no token at all: {}", f.lookup.explain()),
            Some("mount the token file, or set GH_TOKEN for a token that does not rotate"),
        ),
    };
    checks.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_read(mode: u32, uid: u32, gid: u32) -> FileRead {
        FileRead {
            path: "/kelos/github-token/GITHUB_TOKEN".into(),
            contents: b"t".to_vec(),
            layout: Layout::Plain,
            modified: None,
            mode,
            uid,
            gid,
            expiry: None,
        }
    }

    /// Whether `reader` may read a file of `mode` owned by `uid`:`gid` (not as root).
    fn may_read(reader: &Reader, mode: u32, uid: u32, gid: u32) -> bool {
        (reader.uid == uid && mode & 0o400 != 0)
            || (reader.uid != uid && reader.groups.contains(&gid) && mode & 0o040 != 0)
            || (reader.uid != uid && !reader.groups.contains(&gid) && mode & 0o004 != 0)
    }

    #[test]
    fn token_mode_advice_for_kelos_pods() {
        let agent = |groups: &[u32]| Reader {
            uid: 61100,
            groups: groups.to_vec(),
        };
        // Kelos's default 0644, no fsGroup: root-owned; 0400 would lock the agent out.
        let c = token_mode_check(&token_read(0o644, 0, 0), &agent(&[61100])).unwrap();
        let fix = c.fix.unwrap();
        assert!(
            fix.contains("fsGroup: 61100") && fix.contains("0440"),
            "{fix}"
        );
        assert!(fix.contains("not 0400"), "{fix}");
        // With fsGroup 61100 (what Kelos sets): 0440.
        let c = token_mode_check(&token_read(0o644, 0, 61100), &agent(&[61100])).unwrap();
        assert!(c.fix.unwrap().starts_with("set defaultMode: 0440"));
        // Not world-readable: nothing to say.
        assert!(token_mode_check(&token_read(0o440, 0, 61100), &agent(&[61100])).is_none());
    }

    proptest::proptest! {
        /// Following the fix never leaves the reader unable to read the file, and the fix
        /// always names a mode that no longer lets every user read it.
        #[test]
        fn token_mode_fix_keeps_the_reader_reading(
            mode in 0u32..0o1000,
            file_uid in proptest::sample::select(vec![0u32, 61100, 1000]),
            file_gid in proptest::sample::select(vec![0u32, 61100, 1000, 5]),
            uid in proptest::sample::select(vec![61100u32, 1000, 0]),
            groups in proptest::collection::vec(proptest::sample::select(vec![61100u32, 1000, 5, 7]), 1..3),
        ) {
            let reader = Reader { uid, groups };
            let read = token_read(mode, file_uid, file_gid);
            let Some(c) = token_mode_check(&read, &reader) else {
                proptest::prop_assert_eq!(mode & 0o004, 0);
                return Ok(());
            };
            let fix = c.fix.unwrap();
            let new_mode = u32::from_str_radix(
                fix.split("defaultMode: ").nth(1).unwrap().get(..4).unwrap(), 8).unwrap();
            proptest::prop_assert_eq!(new_mode & 0o004, 0, "{}", fix);
            if uid != 0 {
                // fsGroup makes kubelet give the file that group.
                let gid = fix
                    .split("fsGroup: ")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .map(|g| g.parse::<u32>().unwrap())
                    .unwrap_or(file_gid);
                proptest::prop_assert!(may_read(&reader, new_mode, file_uid, gid), "{}", fix);
            }
        }
    }
}
