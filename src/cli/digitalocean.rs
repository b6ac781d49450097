//! The DigitalOcean account commands (`keys list`, `keys create`, `volumes
//! list` and the original's names for them) and the client they share with
//! `config check`: they need the real account, and a key file is checked
//! before it is sent.

use std::path::Path;
use std::sync::Arc;

use super::Failure;
use crate::clients::cloud::{CloudError, Volume};
use crate::clients::digitalocean::{DigitalOcean, SshKey};
use crate::config::Config;

/// A DigitalOcean client on `DO_API_URL` with `DO_TOKEN`; the DigitalOcean
/// helpers need a real account, so sandbox mode stops here.
pub(super) fn digitalocean(config: &Config) -> Result<DigitalOcean, Failure> {
    let token = match (&config.do_token, config.sandbox) {
        (Some(t), false) => t,
        (None, _) => {
            return Err(Failure::Usage(
                "this command needs DO_TOKEN: it talks to a DigitalOcean account, and the sandbox has none. Set DO_TOKEN (and XMR_WALLET_RPC_*) in the env file or the environment".into(),
            ));
        }
        (Some(_), true) => {
            return Err(Failure::Usage(
                "SANDBOX=1: the sandbox has no DigitalOcean account, so this command does not use DO_TOKEN. Unset SANDBOX to use the real account".into(),
            ));
        }
    };
    Ok(DigitalOcean::new(
        crate::app::http_client(),
        &config.do_api_url,
        token.expose(),
        Arc::new(crate::metrics::Metrics::default()),
    ))
}

/// A failed DigitalOcean call, worded for the operator (exit 1).
pub(super) fn cloud_failure(e: CloudError) -> Failure {
    Failure::Other(match e {
        CloudError::Unauthorized => "DigitalOcean refused the token (DO_TOKEN): check that it is valid, not revoked, and has read and write scope".into(),
        e => format!("DigitalOcean: {e}"),
    })
}

/// `keys create`: checks the file first, then adds the key.
pub(super) async fn create_key(config: &Config, name: &str, file: &Path) -> Result<(), Failure> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Failure::Usage("the key needs a name".into()));
    }
    let public_key = read_public_key(file).map_err(Failure::Usage)?;
    let cloud = digitalocean(config)?;
    let key = match cloud.create_ssh_key(name, &public_key).await {
        Ok(k) => k,
        Err(CloudError::Validation(m)) => {
            // Most often: the key is in the account already; say which one it is.
            let existing = cloud.ssh_keys().await.ok().and_then(|keys| {
                keys.into_iter()
                    .find(|k| same_key(&k.public_key, &public_key))
            });
            return Err(Failure::Other(match existing {
                Some(k) => format!(
                    "DigitalOcean refused the key ({m}); it is in the account already as id {} ({:?}), fingerprint {}: put {} or {} into DO_SSH_KEY",
                    k.id, k.name, k.fingerprint, k.id, k.fingerprint
                ),
                None => format!("DigitalOcean refused the key: {m}"),
            }));
        }
        Err(e) => return Err(cloud_failure(e)),
    };
    println!("created SSH key {:?}", key.name);
    println!("id          {}", key.id);
    println!("fingerprint {}", key.fingerprint);
    let mut ids = config.do_ssh_keys.clone();
    ids.push(key.id.to_string());
    println!(
        "Put the id or the fingerprint into DO_SSH_KEY so new nodes carry this key, e.g. DO_SSH_KEY={}",
        ids.join(",")
    );
    Ok(())
}

/// Two OpenSSH public keys are the same when type and key data match
/// (comments may differ).
fn same_key(a: &str, b: &str) -> bool {
    a.split_whitespace()
        .take(2)
        .eq(b.split_whitespace().take(2))
}

/// Prefixes of OpenSSH public key types.
const KEY_PREFIXES: &[&str] = &["ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-", "sk-"];

/// Reads an OpenSSH public key file: one line `type base64 [comment]`.
/// Returns the line, or what is wrong with the file.
pub fn read_public_key(file: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read the public key file {}: {e}", file.display()))?;
    check_public_key(&text).map_err(|m| format!("{}: {m}", file.display()))
}

/// Checks the text of a public key file; returns its key line.
pub fn check_public_key(text: &str) -> Result<String, String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if text.contains("PRIVATE KEY") {
        return Err(
            "this is a private key; never hand it out. Give the public key (the .pub file beside it)"
                .into(),
        );
    }
    let line = match lines.as_slice() {
        [] => return Err("the file is empty; expected an OpenSSH public key".into()),
        [l] => *l,
        _ => {
            return Err(format!(
                "the file holds {} lines; expected one OpenSSH public key",
                lines.len()
            ));
        }
    };
    let fields: Vec<&str> = line.split_whitespace().collect();
    let looks_like_type = KEY_PREFIXES.iter().any(|p| {
        let with_space = format!("{line} ");
        with_space.starts_with(p)
    });
    let base64 = |s: &str| {
        s.len() >= 16
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
    };
    if !looks_like_type || fields.len() < 2 || !base64(fields[1]) {
        return Err(
            "does not look like an OpenSSH public key (expected `ssh-ed25519 AAAA... comment`; also ssh-rsa, ecdsa-sha2-*, sk-*)"
                .into(),
        );
    }
    Ok(line.to_string())
}

/// `keys list` output: one aligned line per key.
pub fn format_keys(keys: &[SshKey]) -> String {
    if keys.is_empty() {
        return "no SSH keys in the account\n".into();
    }
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| vec![k.id.to_string(), k.name.clone(), k.fingerprint.clone()])
        .collect();
    table(&["ID", "NAME", "FINGERPRINT"], &rows)
}

/// `volumes list` output: one aligned line per volume.
pub fn format_volumes(volumes: &[Volume]) -> String {
    if volumes.is_empty() {
        return "no volumes in the account\n".into();
    }
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(",")
        }
    };
    let rows: Vec<Vec<String>> = volumes
        .iter()
        .map(|v| {
            vec![
                v.id.clone(),
                v.name.clone(),
                v.region.clone(),
                v.size_gb.to_string(),
                list(v.droplet_ids.iter().map(u64::to_string).collect()),
                list(v.tags.clone()),
            ]
        })
        .collect();
    table(&["ID", "NAME", "REGION", "GiB", "DROPLETS", "TAGS"], &rows)
}

/// Columns padded to their widest cell; the last one is not padded.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let n = cells.len();
        let mut s = String::new();
        for (i, (c, w)) in cells.into_iter().zip(&widths).enumerate() {
            if i + 1 == n {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx5dVxRqGfOqjUcRUIqFDlj2LqB1cYxF0NQ6ZyJrH1h me@laptop";

    #[test]
    fn public_keys_are_checked_before_sending() {
        assert_eq!(check_public_key(&format!("\n{ED}\n")).unwrap(), ED);
        assert!(
            check_public_key("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAI x").is_ok()
        );
        assert!(
            check_public_key("sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t")
                .is_ok()
        );
        assert!(check_public_key("").unwrap_err().contains("empty"));
        assert!(
            check_public_key("hello world")
                .unwrap_err()
                .contains("OpenSSH public key")
        );
        assert!(check_public_key("ssh-ed25519").is_err());
        assert!(check_public_key("ssh-ed25519 not*base64*at*all!!").is_err());
        assert!(check_public_key("ssh-dss AAAAB3NzaC1kc3MAAACBAP").is_err());
        assert!(
            check_public_key(&format!("{ED}\n{ED}\n"))
                .unwrap_err()
                .contains("2 lines")
        );
        let private = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        assert!(
            check_public_key(private)
                .unwrap_err()
                .contains("private key")
        );
        assert!(same_key(
            ED,
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx5dVxRqGfOqjUcRUIqFDlj2LqB1cYxF0NQ6ZyJrH1h other"
        ));
    }

    #[test]
    fn lists_are_aligned() {
        let keys = vec![
            SshKey {
                id: 7,
                name: "a".into(),
                fingerprint: "aa:bb".into(),
                public_key: ED.into(),
            },
            SshKey {
                id: 3_164_000,
                name: "laptop key".into(),
                fingerprint: "cc:dd".into(),
                public_key: ED.into(),
            },
        ];
        let out = format_keys(&keys);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        let col = |l: &str| {
            l.find("aa:bb")
                .or(l.find("cc:dd"))
                .or(l.find("FINGERPRINT"))
                .unwrap()
        };
        assert_eq!(col(lines[0]), col(lines[1]));
        assert_eq!(col(lines[1]), col(lines[2]));
        assert!(lines[2].starts_with("3164000  laptop key"), "{out}");
        let v = Volume {
            id: "506f78a4".into(),
            name: "op-x".into(),
            region: "ams3".into(),
            size_gb: 150,
            tags: vec!["nodecannon".into(), "nodecannon-op-x".into()],
            created_at: 0,
            droplet_ids: vec![12, 13],
        };
        let out = format_volumes(&[v]);
        assert!(
            out.lines()
                .nth(1)
                .unwrap()
                .ends_with("ams3    150  12,13     nodecannon,nodecannon-op-x"),
            "{out}"
        );
        assert_eq!(format_keys(&[]), "no SSH keys in the account\n");
    }
}
