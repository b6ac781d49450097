//! Env files: `KEY=value` lines as systemd and shells write them.

use std::path::{Path, PathBuf};

use super::{ConfigError, VarMap, err};

/// optional single or double quotes around the value.
pub fn read_env_file(path: &Path) -> Result<VarMap, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| err("--env-file", format!("cannot read {}: {e}", path.display())))?;
    parse_env_text(&text).map_err(|(line, msg)| {
        err(
            "--env-file",
            format!("{} line {line}: {msg}", path.display()),
        )
    })
}

pub(super) fn parse_env_text(text: &str) -> Result<VarMap, (usize, String)> {
    let mut map = VarMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            return Err((i + 1, "expected KEY=value".into()));
        };
        let v = v.trim();
        let v = ['"', '\'']
            .iter()
            .find_map(|q| v.strip_prefix(*q).and_then(|s| s.strip_suffix(*q)))
            .unwrap_or(v);
        map.insert(k.trim().to_string(), v.to_string());
    }
    Ok(map)
}

/// Picks the env file SPEC.md names: the given one, else
/// `/etc/nodecannon/nodecannon.env` when it exists, else `./.env` when it exists.
pub fn default_env_file(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = given {
        return Some(p.to_path_buf());
    }
    ["/etc/nodecannon/nodecannon.env", ".env"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}
