//! Reloads of a standalone pipeline are all or nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::*;
use crate::config::{self, HostInfo};

fn config(state: &Path, services: &[&str]) -> Config {
    let mut text = format!(
        "[node]\nname = \"n\"\nrouter_id = \"192.0.2.10\"\nasn = 64512\naddresses = [\"192.0.2.10\"]\n\n\
         [bgp]\nlisten = \"\"\n\n[[pools]]\nname = \"p\"\naddresses = [\"198.51.100.0/24\"]\n\n\
         [state]\npath = \"{}\"\n",
        state.display()
    );
    for s in services {
        text.push_str(&format!("\n[[services]]\nname = \"{s}\"\n"));
    }
    config::parse_with(Path::new("node.toml"), &text, &HostInfo::default()).expect("valid config")
}

#[tokio::test]
async fn a_reload_whose_assignments_cannot_be_saved_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state_dir: PathBuf = dir.path().join("state");
    let state = state_dir.join("state.json");
    let directory = Arc::new(RwLock::new(HashMap::new()));
    let mut pipeline = Pipeline::start(config(&state, &["web"]), directory).expect("start");
    let before = pipeline.resolved();
    // The state file's directory becomes a plain file: the save fails, also for root.
    std::fs::remove_dir_all(&state_dir).expect("rm");
    std::fs::write(&state_dir, "in the way").expect("block");
    let bigger = config(&state, &["web", "api"]);
    assert!(pipeline.reconfigure(bigger.clone()).await.is_err());
    assert_eq!(pipeline.resolved(), before, "nothing was applied");
    assert_eq!(pipeline.services().len(), 1);
    assert_eq!(pipeline.announcer.table().len(), 1, "api is not announced");
    std::fs::remove_file(&state_dir).expect("unblock");
    pipeline.reconfigure(bigger).await.expect("saved now");
    assert_eq!(pipeline.resolved().len(), 2);
    assert_eq!(pipeline.announcer.table().len(), 2);
}
