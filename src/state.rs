//! The standalone state file: which service holds which addresses, so a restart or reload
//! moves nothing. Written atomically (temp file, fsync, rename, fsync of the directory); a file
//! that cannot be read back stops the start with a clear message and is never discarded.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The current format version.
pub const VERSION: u32 = 1;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub version: u32,
    /// Next creation sequence number to hand out.
    pub next_seq: u64,
    pub services: Vec<ServiceState>,
}

/// One service's assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceState {
    pub name: String,
    /// Creation sequence: the older service wins a contested address.
    pub created: u64,
    pub addresses: Vec<IpAddr>,
    #[serde(default)]
    pub pool: Option<String>,
    #[serde(default)]
    pub sharing_key: Option<String>,
}

/// Why the state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read state file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is corrupt ({source}); fix or move it away deliberately — it holds the address assignments, and discarding it could move addresses")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("state file {path} has version {found}, this ferrolb understands {VERSION}")]
    Version { path: PathBuf, found: u32 },
    #[error("cannot write state file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads the state file; `Ok(None)` when it does not exist yet.
pub fn load(path: &Path) -> Result<Option<State>, StateError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Read {
                path: path.into(),
                source,
            })
        }
    };
    let state: State = serde_json::from_slice(&text).map_err(|source| StateError::Corrupt {
        path: path.into(),
        source,
    })?;
    if state.version != VERSION {
        return Err(StateError::Version {
            path: path.into(),
            found: state.version,
        });
    }
    Ok(Some(state))
}

/// Writes the state file atomically.
pub fn save(path: &Path, state: &State) -> Result<(), StateError> {
    let err = |source| StateError::Write {
        path: path.into(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let body = serde_json::to_vec_pretty(state).map_err(|e| err(std::io::Error::other(e)))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    tmp.write_all(&body).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        State {
            version: VERSION,
            next_seq: 3,
            services: vec![ServiceState {
                name: "web".into(),
                created: 1,
                addresses: vec!["198.51.100.10".parse().expect("ip")],
                pool: Some("public".into()),
                sharing_key: None,
            }],
        }
    }

    #[test]
    fn a_missing_state_file_is_no_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(load(&dir.path().join("state.json"))
            .expect("load")
            .is_none());
    }

    #[test]
    fn state_survives_a_save_and_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/state.json");
        save(&path, &sample()).expect("save");
        assert_eq!(load(&path).expect("load"), Some(sample()));
        // No temp files are left beside it.
        assert_eq!(
            std::fs::read_dir(dir.path().join("sub"))
                .expect("dir")
                .count(),
            1
        );
    }

    #[test]
    fn a_corrupt_state_file_is_an_error_that_names_the_file_and_it_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        std::fs::write(&path, "{\"version\": 1, \"services\": [").expect("write");
        let err = load(&path).expect_err("corrupt").to_string();
        assert!(
            err.contains("state.json") && err.contains("corrupt"),
            "{err}"
        );
        assert!(path.exists());
    }

    #[test]
    fn an_unknown_version_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let mut s = sample();
        s.version = 99;
        std::fs::write(&path, serde_json::to_vec(&s).expect("json")).expect("write");
        assert!(matches!(
            load(&path),
            Err(StateError::Version { found: 99, .. })
        ));
    }
}
