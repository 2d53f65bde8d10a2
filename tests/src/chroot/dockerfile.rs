//! The final stage of a Dockerfile, read into the steps the chroot test runs (a small
//! reader for the few instructions the example image uses).

use std::fs;
use std::path::Path;

/// One instruction of a Dockerfile's final stage, as the chroot test runs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `RUN [--mount=type=bind,source=S,target=T]... command` (shell form).
    Run {
        binds: Vec<(String, String)>,
        command: String,
    },
    /// `COPY --from=STAGE SRC... DEST`.
    CopyFrom {
        stage: String,
        sources: Vec<String>,
        dest: String,
    },
    /// `USER uid[:gid]`.
    User(String),
    /// `WORKDIR dir`.
    Workdir(String),
    /// `ENV k=v ...`.
    Env(Vec<(String, String)>),
}

impl Step {
    /// For `COPY --from`: (source, destination file) pairs, with a destination directory
    /// (ending in `/`, or several sources) resolved to `dir/basename`.
    pub fn copied_files(&self) -> Vec<(String, String)> {
        let Step::CopyFrom { sources, dest, .. } = self else {
            return Vec::new();
        };
        let into_dir = dest.ends_with('/') || sources.len() > 1;
        sources
            .iter()
            .map(|s| {
                let d = if into_dir {
                    let base = s.rsplit('/').next().unwrap_or(s);
                    format!("{}/{base}", dest.trim_end_matches('/'))
                } else {
                    dest.clone()
                };
                (s.clone(), d)
            })
            .collect()
    }
}

/// The final stage of a Dockerfile: its base image and its steps. Panics on an instruction
/// the chroot test cannot run (so a new instruction is never silently skipped).
#[derive(Debug, Clone)]
pub struct FinalStage {
    pub base: String,
    pub steps: Vec<Step>,
}

impl FinalStage {
    /// Where the helpers come in: the index of the first `COPY --from`.
    pub fn first_copy(&self) -> usize {
        self.steps
            .iter()
            .position(|s| matches!(s, Step::CopyFrom { .. }))
            .expect("the image copies the helpers")
    }

    /// The plain `RUN` steps before the helpers: the distribution layers that a
    /// [`RootfsRecipe`] caches. Anything else there is a panic.
    pub fn distribution_steps(&self) -> Vec<String> {
        self.steps[..self.first_copy()]
            .iter()
            .map(|s| match s {
                Step::Run { binds, command } if binds.is_empty() => command.clone(),
                other => panic!(
                    "a root fs recipe caches only plain RUN steps before the helpers: {other:?}"
                ),
            })
            .collect()
    }
}

/// Reads the final stage of `dockerfile` (comments and line continuations handled; shell
/// form only).
pub fn read_final_stage(dockerfile: &Path) -> FinalStage {
    let text = fs::read_to_string(dockerfile)
        .unwrap_or_else(|e| panic!("read {}: {e}", dockerfile.display()));
    let mut instructions: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') {
            continue;
        }
        if current.is_empty() && trimmed.is_empty() {
            continue;
        }
        let (body, continued) = match line.trim_end().strip_suffix('\\') {
            Some(b) => (b, true),
            None => (line.trim_end(), false),
        };
        current.push_str(body);
        if continued {
            current.push(' ');
        } else {
            instructions.push(std::mem::take(&mut current));
        }
    }
    if !current.trim().is_empty() {
        instructions.push(current);
    }

    let mut stage: Option<FinalStage> = None;
    // Global `ARG NAME=default`s (before the first FROM), which a FROM may name.
    let mut global_args: Vec<(String, String)> = Vec::new();
    for ins in instructions {
        let ins = ins.trim();
        let (word, rest) = ins.split_once(char::is_whitespace).unwrap_or((ins, ""));
        let rest = rest.trim();
        let word = word.to_ascii_uppercase();
        if word == "ARG" && stage.is_none() {
            for a in rest.split_whitespace() {
                let (k, v) = a.split_once('=').unwrap_or((a, ""));
                global_args.push((k.to_string(), v.trim_matches('"').to_string()));
            }
            continue;
        }
        if word == "FROM" {
            let mut base = rest
                .split_whitespace()
                .find(|w| !w.starts_with("--"))
                .unwrap_or("")
                .to_string();
            for (k, v) in &global_args {
                base = base
                    .replace(&format!("${{{k}}}"), v)
                    .replace(&format!("${k}"), v);
            }
            stage = Some(FinalStage {
                base,
                steps: Vec::new(),
            });
            continue;
        }
        let Some(stage) = stage.as_mut() else {
            continue;
        };
        let step = match word.as_str() {
            "RUN" => {
                assert!(
                    !rest.starts_with('['),
                    "RUN in exec form is not supported: {ins}"
                );
                let (flags, command) = split_flags(rest);
                let binds = flags
                    .iter()
                    .map(|f| {
                        let m = f.strip_prefix("--mount=").unwrap_or_else(|| {
                            panic!("RUN flag {f} is not supported by the chroot test")
                        });
                        let opt = |k: &str| {
                            m.split(',')
                                .find_map(|kv| kv.strip_prefix(&format!("{k}=")[..]))
                                .map(str::to_string)
                        };
                        assert_eq!(
                            opt("type").as_deref(),
                            Some("bind"),
                            "RUN {f}: only type=bind"
                        );
                        assert!(
                            opt("from").is_none(),
                            "RUN {f}: only binds from the context"
                        );
                        let source = opt("source").or_else(|| opt("src")).expect("bind source");
                        let target = opt("target")
                            .or_else(|| opt("dst"))
                            .or_else(|| opt("destination"))
                            .expect("bind target");
                        (source, target)
                    })
                    .collect();
                Step::Run {
                    binds,
                    command: command.to_string(),
                }
            }
            "COPY" => {
                assert!(
                    !rest.starts_with('['),
                    "COPY in JSON form is not supported: {ins}"
                );
                let (flags, args) = split_flags(rest);
                let mut stage_name = None;
                for f in &flags {
                    if let Some(s) = f.strip_prefix("--from=") {
                        stage_name = Some(s.to_string());
                    } else if !f.starts_with("--chmod=") && !f.starts_with("--link") {
                        panic!("COPY flag {f} is not supported by the chroot test");
                    }
                }
                let stage_name = stage_name.unwrap_or_else(|| {
                    panic!("COPY from the build context is not supported by the chroot test: {ins}")
                });
                let mut words: Vec<String> = args.split_whitespace().map(str::to_string).collect();
                let dest = words.pop().expect("COPY destination");
                assert!(!words.is_empty(), "COPY without a source: {ins}");
                Step::CopyFrom {
                    stage: stage_name,
                    sources: words,
                    dest,
                }
            }
            "USER" => Step::User(rest.to_string()),
            "WORKDIR" => Step::Workdir(rest.to_string()),
            "ENV" => Step::Env(
                rest.split_whitespace()
                    .map(|kv| {
                        let (k, v) = kv
                            .split_once('=')
                            .unwrap_or_else(|| panic!("ENV {kv}: only the k=v form is supported"));
                        (k.to_string(), v.trim_matches('"').to_string())
                    })
                    .collect(),
            ),
            "LABEL" | "EXPOSE" | "STOPSIGNAL" | "HEALTHCHECK" | "CMD" | "ENTRYPOINT" => continue,
            other => {
                panic!("Dockerfile instruction {other} is not supported by the chroot test: {ins}")
            }
        };
        stage.steps.push(step);
    }
    stage.unwrap_or_else(|| panic!("{}: no FROM", dockerfile.display()))
}

/// Splits leading `--flag` words off `rest`.
fn split_flags(rest: &str) -> (Vec<String>, &str) {
    let mut flags = Vec::new();
    let mut rest = rest.trim_start();
    while rest.starts_with("--") {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        flags.push(rest[..end].to_string());
        rest = rest[end..].trim_start();
    }
    (flags, rest)
}
